"""wav2prompt-demo as a person uses it: a real headless browser (Debian's chromium, driven by selenium)
uploads or records a wav, picks or writes a template, and reads the answer; bad input gets a message on
the page and the server keeps serving."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from test_cli import train_args

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TEMPLATE = "repeat {speech} text"
RATE = 16000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, speech_data, tiny_llm):
    save_dir = str(tmp_path_factory.mktemp("demo_model"))
    run_cli(train_args(speech_data, tiny_llm, save_dir, updates=10))
    return os.path.join(save_dir, "checkpoint_last.pt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(checkpoint, tiny_llm, tmp_path_factory):
    tasks = tmp_path_factory.mktemp("demo_tasks") / "tasks.json"
    tasks.write_text(json.dumps({"say_french": {"template": "say {speech} in french", "target": "fr",
                                                "metric": "bleu"}}))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "wav2prompt-demo"), "--checkpoint", checkpoint,
         "--llm-path", tiny_llm, "--tasks-file", str(tasks), "--port", str(port), "--max-seconds", "4",
         "--max-len-b", "15"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"wav2prompt-demo did not start: {proc.stdout.read()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def start_browser(*flags):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver); `make install` installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600",
                 # a microphone that plays a beep (or a wav file's samples), allowed without asking:
                 # the Record button's path
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


def ask(driver, url, audio=None, template=None, task=None, record_seconds=0.0):
    """Fill the form as a person would and submit; the page's answer, or its error message."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 120)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "task")).options) >= 2)
    if task:
        Select(driver.find_element(By.ID, "task")).select_by_visible_text(task)
    if template is not None:
        box = driver.find_element(By.ID, "template")
        box.clear()
        box.send_keys(template)
    if audio:
        driver.find_element(By.ID, "audio").send_keys(audio)
    if record_seconds:
        driver.find_element(By.ID, "record").click()
        wait.until(lambda d: d.find_element(By.ID, "record").text == "Stop")
        time.sleep(record_seconds)
        driver.find_element(By.ID, "record").click()
        wait.until(lambda d: d.find_element(By.ID, "recording").text.startswith("recorded"))
    driver.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.find_element(By.ID, "error").text or d.find_element(By.ID, "result").is_displayed())
    error = driver.find_element(By.ID, "error").text
    if error:
        return {"error": error}
    rows = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
    return {"answer": driver.find_element(By.ID, "answer").text, "heard": driver.find_element(By.ID, "heard").text,
            "recording": driver.find_element(By.ID, "recording").text,
            "tokens": [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows],
            "picture": driver.find_element(By.ID, "picture").get_attribute("naturalWidth")}


def test_upload_a_wav_and_see_the_answer(server, browser, checkpoint, tiny_llm, speech_data, tmp_path):
    from wav2prompt_plugin.inference import Wav2PromptInference

    wav = str(pathlib.Path(speech_data, "wav", "dev_0.wav"))
    shown = ask(browser, server, audio=wav, task="say_french")
    model = Wav2PromptInference(checkpoint, llm_path=tiny_llm, max_len_b=15)
    # what the page shows is what the Python API computes for the same file and template
    assert shown["answer"] == model.generate([wav], "say {speech} in french")[0]
    heard = model.transcribe(wav, timestamps=True)[0]
    assert shown["heard"] == heard["text"]
    assert shown["tokens"] == [t["token"] for t in heard["tokens"]]
    assert int(shown["picture"]) > 0  # the picture loaded
    screenshot = os.environ.get("W2P_DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
    browser.save_screenshot(screenshot)
    assert pathlib.Path(screenshot).read_bytes()[:4] == b"\x89PNG"
    # a template written by hand, and the model's own one
    own = ask(browser, server, audio=wav, template="say {speech} now")
    assert own["answer"] == model.generate([wav], "say {speech} now")[0]


def test_record_from_the_microphone(server, browser):
    shown = ask(browser, server, record_seconds=1.5, task="say_french")
    assert "error" not in shown, shown
    # the page's WAV of the fake microphone's beep, heard and answered
    assert 1.0 <= float(shown["recording"].split()[1]) <= 4.0 and shown["picture"] != "0"


def recorded_wav(driver, path):
    """The page's last recording (its WAV blob), written to `path`."""
    import base64

    data = driver.execute_async_script(
        "const done = arguments[0], reader = new FileReader();"
        "reader.onload = () => done(reader.result.split(',')[1]); reader.readAsDataURL(recorded);")
    pathlib.Path(path).write_bytes(base64.b64decode(data))
    return str(path)


def test_a_recording_that_starts_with_silence(server, browser, checkpoint, tiny_llm, speech_data, tmp_path):
    """The microphone plays 1 s of -60 dBFS noise, then an utterance. With the trim (the demo's default) the
    model hears the utterance, not the second before it: what it heard is the unpadded file but for the
    trim's margins, and the page answers as the API does for that recording with the trim on.

    (The page's answer is not compared with the unpadded file's: the browser resamples the microphone to
    its own rate and starts at any sample, so the features differ by a few percent, and the untrained
    test model answers such a change differently.)"""
    from wav2prompt_plugin.data.audio_features import read_waveform
    from wav2prompt_plugin.data.voice_activity import TRIM_MARGIN_S, speech_bounds
    from wav2prompt_plugin.inference import Wav2PromptInference

    wav = str(pathlib.Path(speech_data, "wav", "dev_0.wav"))
    speech, rate = sf.read(wav, dtype="float32")
    noise = np.random.default_rng(7).normal(0.0, 10 ** (-60 / 20), rate).astype(np.float32)
    padded = tmp_path / "silence_first.wav"
    sf.write(padded, np.concatenate([noise, speech]), rate, subtype="PCM_16")
    seconds = len(speech) / rate + 1.0
    assert seconds + 0.4 < 4  # within the server's --max-seconds
    microphone = start_browser(f"--use-file-for-fake-audio-capture={padded}%noloop")
    try:
        shown = ask(microphone, server, record_seconds=seconds + 0.3, task="say_french")
        recording = recorded_wav(microphone, tmp_path / "recording.wav")
    finally:
        microphone.quit()
    assert "error" not in shown, shown
    # where the utterance lies in the recording (at 16 kHz), and what the trim keeps of it
    heard = read_waveform(recording, recording)
    clean = read_waveform(wav, wav)
    onset = int(np.argmax(np.correlate(heard, clean, mode="valid")))
    assert 0.7 * RATE <= onset <= 1.05 * RATE  # the second of noise, less what the page missed of it
    first, end = speech_bounds(heard, RATE)
    kept = speech_bounds(clean, RATE)
    assert onset + kept[0] - (TRIM_MARGIN_S + 0.02) * RATE <= first <= onset + kept[0]
    assert onset + kept[1] - 0.01 * RATE <= end <= onset + kept[1] + (TRIM_MARGIN_S + 0.02) * RATE
    model = Wav2PromptInference(checkpoint, llm_path=tiny_llm, max_len_b=15)
    assert shown["answer"] == model.generate([recording], "say {speech} in french")[0]
    assert shown["heard"] == model.transcribe(recording)[0]["text"]
    # the timeline is in the recording's time: no token before the utterance's trimmed start
    tokens = model.transcribe(recording, timestamps=True)[0]["tokens"]
    assert all(t["start"] >= first / RATE - 1e-3 for t in tokens)


def test_bad_input_gets_a_message_and_the_server_keeps_serving(server, browser, speech_data, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not samples")
    assert ask(browser, server, audio=str(not_audio))["error"] == \
        "notes.wav: not an audio file this server can read (wav, flac or ogg)"
    wav = str(pathlib.Path(speech_data, "wav", "dev_0.wav"))
    error = ask(browser, server, audio=wav, template="say it in french")["error"]
    assert "must contain exactly one {speech} placeholder" in error
    error = ask(browser, server, audio=wav, template="Context: {context} Question: {speech}")["error"]
    assert "uses field {context}" in error
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(16000 * 5, dtype=np.float32), 16000)
    assert ask(browser, server, audio=str(long))["error"] == \
        "long.wav: 5.0 s of audio; this server takes up to 4 s"
    assert ask(browser, server)["error"] == "choose a wav file or record one first"
    assert "answer" in ask(browser, server, audio=wav)  # still serving
