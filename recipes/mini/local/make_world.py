#!/usr/bin/env python3
"""Generate the toy world of the mini recipe, in English with French and Spanish.

The world has a few hundred words: people with fixed facts (home city, favourite
colour and food, pet, job, best friend), animals, people and objects with colours
and sizes, rooms of a house and things to do in them.  Four kinds of sentence come
out of it, one per zero-shot task of the paper:

* describe           "the big red cat sleeps in the kitchen" (ASR, translation)
* command            "switch on the kitchen light please", with an intent label
* question           "where does tom live", answered from memory (facts.tsv)
* context_question   "what colour is the box of sara", answered from a passage

A target domain, a council ("the members of the regional council vote against the annual
budget", "the farmers vote against the law on cows tomorrow"), has words and constructions of its
own beside words of the general world (people, animals, objects, places, cities, days): the
miniature's Europarl-ST beside its LibriSpeech, whose debates use much of LibriSpeech's English
and terms of their own.  Its sentences
(kind describe, domain "council") split into a pool (split "train": the LLM learns their
text, few-shot pairs are drawn from them), "target_dev" and "target_test"; more of its text
(domain "council_text", split "train") is for the LLM alone, as a real LLM knows a domain from
far more text than a few-shot pool holds.  No ASR stage ever hears a council sentence (synthesize.py
speaks the general domain only, synthesize_target.py the council's pool, dev and test); half of the
general world's describe sentences mention the council's words (MENTION).

French and Spanish follow fixed rules: gender and number agreement, French sizes
before the noun and colours after it, Spanish colour then size after the noun.
Words are chosen so that French needs no elision beyond the set phrases
"s'il te plaît" and "aujourd'hui".  The output is a pure function of --seed and --size.

Writes DIR/sentences.tsv (id split kind en fr es intent answer context domain) and
DIR/facts.tsv (English statements, one a line, each fact in several wordings).
"""
import argparse
import itertools
import os
import random
import re
from collections import Counter, namedtuple

HEADER = ("id", "split", "kind", "en", "fr", "es", "intent", "answer", "context", "domain")
KINDS = ("describe", "command", "question", "context_question")
SPLITS = ("train", "dev", "test")
# Rows per split, in the order of KINDS; test has enough of every kind to score it.
# Default train questions: every (fact, wording) pair that dev and test leave,
# 144 facts x 5 wordings - 82: the more wordings of each kind of fact the LLM
# sees answered, the better it answers a held-out wording from memory.
COUNTS = {
    "smoke": {"train": (160, 100, 60, 80), "dev": (12, 8, 4, 6), "test": (14, 10, 8, 8)},
    "default": {"train": (1200, 750, 638, 600), "dev": (60, 38, 22, 30),
                "test": (105, 75, 60, 60)},
}

# The target domain's rows per split of its sentences: the pool (text the LLM learns, few-shot pairs;
# split "train"), dev and test (splits "target_dev", "target_test": out of every general consumer),
# and text the LLM alone learns (domain "council_text", split "train").  Default: with the text,
# the LLM sees 2,000 council sentences (the general world's describe: 1,200 + 3,000 fresh).
TARGET_COUNTS = {"smoke": {"train": 60, "dev": 8, "test": 20, "text": 40},
                 "default": {"train": 700, "dev": 80, "test": 320, "text": 1300}}
TARGET_SPLITS = {"train": "train", "dev": "target_dev", "test": "target_test"}
TARGET_ROLES = {"train": "pool", "dev": "dev", "test": "test"}  # in the ids: council-pool-00001

Noun = namedtuple("Noun", "en en_pl fr fr_g es es_g cls")
Adj = namedtuple("Adj", "en fr_m fr_f es")
Verb = namedtuple("Verb", "en en_pl fr fr_pl es es_pl human")
Place = namedtuple("Place", "en fr fr_g es es_g room")


def table(text, row=lambda *fields: fields, *extra):
    """Records of a table: fields split by '|', records by ';' or a new line."""
    records = [r for line in text.strip().splitlines() for r in line.split(";") if r.strip()]
    return [row(*(f.strip() for f in r.split("|")), *extra) for r in records]


# No French noun starts with a vowel, so "le", "la", "de" and "vieux" never elide.
ANIMALS = table("""
cat|cats|chat|m|gato|m; dog|dogs|chien|m|perro|m; horse|horses|cheval|m|caballo|m
cow|cows|vache|f|vaca|f; mouse|mice|souris|f|ratón|m; rabbit|rabbits|lapin|m|conejo|m
duck|ducks|canard|m|pato|m; goat|goats|chèvre|f|cabra|f; pig|pigs|cochon|m|cerdo|m
frog|frogs|grenouille|f|rana|f; tiger|tigers|tigre|m|tigre|m; snake|snakes|serpent|m|serpiente|f
parrot|parrots|perroquet|m|loro|m""", Noun, "animal")
PEOPLE = table("""
boy|boys|garçon|m|niño|m; girl|girls|fille|f|niña|f; woman|women|femme|f|mujer|f
baker|bakers|boulanger|m|panadero|m; farmer|farmers|fermier|m|granjero|m; king|kings|roi|m|rey|m
queen|queens|reine|f|reina|f; teacher|teachers|professeur|m|profesor|m""", Noun, "person")
OBJECTS = table("""
box|boxes|boîte|f|caja|f; ball|balls|balle|f|pelota|f; key|keys|clé|f|llave|f
car|cars|voiture|f|coche|m; book|books|livre|m|libro|m; hat|hats|chapeau|m|sombrero|m
cup|cups|tasse|f|taza|f; bag|bags|sac|m|bolso|m; lamp|lamps|lampe|f|lámpara|f
pen|pens|stylo|m|bolígrafo|m; chair|chairs|chaise|f|silla|f; apple|apples|pomme|f|manzana|f
bottle|bottles|bouteille|f|botella|f; shoe|shoes|chaussure|f|zapato|m; boat|boats|bateau|m|barco|m
phone|phones|téléphone|m|teléfono|m; bike|bikes|vélo|m|bicicleta|f; watch|watches|montre|f|reloj|m
candle|candles|bougie|f|vela|f; spoon|spoons|cuillère|f|cuchara|f; pencil|pencils|crayon|m|lápiz|m
ring|rings|bague|f|anillo|m; coat|coats|manteau|m|abrigo|m""", Noun, "object")
SIZE_ADJS = table("""
big|grand|grande|grande; small|petit|petite|pequeño; old|vieux|vieille|viejo
new|nouveau|nouvelle|nuevo""", Adj)
COLOURS = table("""
red|rouge|rouge|rojo; blue|bleu|bleue|azul; green|vert|verte|verde; yellow|jaune|jaune|amarillo
black|noir|noire|negro; white|blanc|blanche|blanco; grey|gris|grise|gris; brown|brun|brune|marrón
purple|violet|violette|morado""", Adj)
INTRANSITIVE = table("""
sleeps|sleep|dort|dorment|duerme|duermen|; runs|run|court|courent|corre|corren|
plays|play|joue|jouent|juega|juegan|; eats|eat|mange|mangent|come|comen|
sings|sing|chante|chantent|canta|cantan|; jumps|jump|saute|sautent|salta|saltan|
waits|wait|attend|attendent|espera|esperan|; dances|dance|danse|dansent|baila|bailan|
hides|hide|se cache|se cachent|se esconde|se esconden|
works|work|travaille|travaillent|trabaja|trabajan|human""", Verb)
TRANSITIVE = table("""
sees|see|voit|voient|ve|ven|; wants|want|veut|veulent|quiere|quieren|; has|have|a|ont|tiene|tienen|
finds|find|trouve|trouvent|encuentra|encuentran|; carries|carry|porte|portent|lleva|llevan|
watches|watch|regarde|regardent|mira|miran|; loses|lose|perd|perdent|pierde|pierden|
buys|buy|achète|achètent|compra|compran|human; sells|sell|vend|vendent|vende|venden|human
paints|paint|peint|peignent|pinta|pintan|human; washes|wash|lave|lavent|lava|lavan|human
draws|draw|dessine|dessinent|dibuja|dibujan|human""", Verb)
PLACES = table("""
kitchen|cuisine|f|cocina|f|room; bedroom|chambre|f|dormitorio|m|room
living room|salon|m|salón|m|room; bathroom|salle de bain|f|baño|m|room
office|bureau|m|oficina|f|room; garage|garage|m|garaje|m|room; garden|jardin|m|jardín|m|room
hallway|couloir|m|pasillo|m|room; park|parc|m|parque|m|; street|rue|f|calle|f|
forest|forêt|f|bosque|m|; shop|magasin|m|tienda|f|; library|bibliothèque|f|biblioteca|f|
station|gare|f|estación|f|; farm|ferme|f|granja|f|""", Place)
ROOMS = [p for p in PLACES if p.room]
NUMBERS = table("""
one|un|un; two|deux|dos; three|trois|tres; four|quatre|cuatro; five|cinq|cinco; six|six|seis
seven|sept|siete; eight|huit|ocho; nine|neuf|nueve; ten|dix|diez; eleven|onze|once
twelve|douze|doce""")
# Names start with a consonant so that French "de tom" never needs "d'".
NAMES = ("tom marc sara lucas paul julia leo nina clara max lena david maria lucy "
         "felix rosa mila karl sofia pablo greta nora victor diana").split()
CITIES = table("""
paris|paris|parís; london|londres|londres; madrid|madrid|madrid; rome|rome|roma
berlin|berlin|berlín; lisbon|lisbonne|lisboa; vienna|vienne|viena; dublin|dublin|dublín
oslo|oslo|oslo; prague|prague|praga""")
DAYS = table("today|aujourd'hui|hoy; tomorrow|demain|mañana; "
              "on saturday|samedi|el sábado; on sunday|dimanche|el domingo")
PERIODS = [("", "", "")] + table("in the morning|du matin|de la mañana; "
                                 "in the evening|du soir|de la tarde")
JOBS = "doctor teacher farmer baker painter driver nurse pilot singer cook".split()
FOODS = "pizza soup rice bread cheese cake pasta salad chocolate honey".split()


def sections(text):
    """[(header fields, wordings)] of a text whose sections start with '= a | b'."""
    out = []
    for block in text.strip().split("\n="):
        head, body = block.lstrip("= ").split("\n", 1)
        out.append((tuple(f.strip() for f in head.split("|")), table(body)))
    return out


# Sections are "= intent | slot kind"; the label never depends on the slot.
COMMANDS = sections("""
= turn on light | room
turn on the light {in}|allume la lumière {in}|enciende la luz {in}
switch on the {room} light|allume la lumière {of}|enciende la luz {of}
can you turn the light on {in}|tu peux allumer la lumière {in}|puedes encender la luz {in}
put the lights on {in}|mets la lumière {in}|pon la luz {in}
i need some light {in}|il me faut de la lumière {in}|necesito luz {in}
= turn off light | room
turn off the light {in}|éteins la lumière {in}|apaga la luz {in}
switch off the {room} light|éteins la lumière {of}|apaga la luz {of}
can you turn the light off {in}|tu peux éteindre la lumière {in}|puedes apagar la luz {in}
kill the lights {in}|coupe la lumière {in}|corta la luz {in}
it is too bright {in}|il y a trop de lumière {in}|hay demasiada luz {in}
= open door | room
open the {room} door|ouvre la porte {of}|abre la puerta {of}
open the door of the {room}|ouvre la porte {of}|abre la puerta {of}
can you open the {room} door|tu peux ouvrir la porte {of}|puedes abrir la puerta {of}
unlock the door {in}|déverrouille la porte {of}|abre con llave la puerta {of}
let me into the {room}|laisse moi entrer dans {the}|déjame entrar en {the}
= close door | room
close the {room} door|ferme la porte {of}|cierra la puerta {of}
shut the door of the {room}|ferme la porte {of}|cierra la puerta {of}
can you close the {room} door|tu peux fermer la porte {of}|puedes cerrar la puerta {of}
lock the door {in}|verrouille la porte {of}|cierra con llave la puerta {of}
= open window | room
open the window {in}|ouvre la fenêtre {in}|abre la ventana {in}
open the {room} window|ouvre la fenêtre {of}|abre la ventana {of}
can you open a window {in}|tu peux ouvrir une fenêtre {in}|puedes abrir una ventana {in}
air out the {room}|aère {the}|ventila {the}
= close window | room
close the window {in}|ferme la fenêtre {in}|cierra la ventana {in}
shut the {room} window|ferme la fenêtre {of}|cierra la ventana {of}
can you close the window {in}|tu peux fermer la fenêtre {in}|puedes cerrar la ventana {in}
it is too cold {in} shut the window|il fait trop froid {in} ferme la fenêtre|hace demasiado frío {in} cierra la ventana
= play music | room
play some music {in}|mets de la musique {in}|pon música {in}
put on some music {in}|lance de la musique {in}|pon algo de música {in}
can you play a song {in}|tu peux jouer une chanson {in}|puedes poner una canción {in}
start the music {in}|démarre la musique {in}|inicia la música {in}
i want to hear music {in}|je veux écouter de la musique {in}|quiero escuchar música {in}
= stop music | room
stop the music {in}|arrête la musique {in}|para la música {in}
turn the music off {in}|coupe la musique {in}|apaga la música {in}
can you stop the song {in}|tu peux arrêter la chanson {in}|puedes parar la canción {in}
no more music {in}|plus de musique {in}|basta de música {in}
pause the music {in}|mets la musique en pause {in}|pausa la música {in}
= volume up | room
turn the volume up {in}|monte le volume {in}|sube el volumen {in}
make it louder {in}|mets plus fort {in}|ponlo más alto {in}
can you raise the volume {in}|tu peux augmenter le volume {in}|puedes subir el volumen {in}
increase the sound {in}|augmente le son {in}|aumenta el sonido {in}
= volume down | room
turn the volume down {in}|baisse le volume {in}|baja el volumen {in}
make it quieter {in}|mets moins fort {in}|ponlo más bajo {in}
can you lower the volume {in}|tu peux baisser le volume {in}|puedes bajar el volumen {in}
the sound is too loud {in}|le son est trop fort {in}|el sonido está demasiado alto {in}
= set alarm | hour
set an alarm for {h}|mets un réveil à {h}|pon una alarma a {h}
wake me up at {h}|réveille moi à {h}|despiértame a {h}
can you set the alarm for {h}|tu peux régler le réveil à {h}|puedes poner la alarma a {h}
i need to get up at {h}|je dois me lever à {h}|tengo que levantarme a {h}
= call person | person
call {name}|appelle {name}|llama a {name}
phone {name}|téléphone à {name}|telefonea a {name}
can you call {name}|tu peux appeler {name}|puedes llamar a {name}
i want to talk to {name}|je veux parler à {name}|quiero hablar con {name}
give {name} a ring|passe un coup de fil à {name}|dale un toque a {name}
= check weather | weather
what is the weather like in {city} {day}|quel temps fait il à {city} {day}|qué tiempo hace en {city} {day}
will it rain in {city} {day}|il va pleuvoir à {city} {day}|va a llover en {city} {day}
tell me the weather in {city} {day}|donne moi la météo à {city} {day}|dime el tiempo en {city} {day}
is it going to be sunny in {city} {day}|il va faire beau à {city} {day}|va a hacer sol en {city} {day}
weather forecast for {city} {day}|prévisions météo pour {city} {day}|pronóstico del tiempo para {city} {day}
""")
SUFFIXES = {"please": ("please", "s'il te plaît", "por favor"), "now": ("now", "maintenant", "ahora")}
# "now" only where it reads naturally (not after a time or a date).
VARIANTS = {"room": ("", "please", "now"), "person": ("", "please", "now"),
            "hour": ("", "please"), "weather": ("", "please")}

# Sections are "= attribute | the fact as statements ...", then the question wordings.
# A fact stated in several wordings is learnt as knowledge, not as one string: a
# question in a new wording then finds it (the LLM learns the facts as plain text).
ATTRIBUTES = sections("""
= city | {name} lives in {value} | the city of {name} is {value} | {name} has a home in {value}
where does {name} live|où habite {name}|dónde vive {name}
in which city does {name} live|dans quelle ville habite {name}|en qué ciudad vive {name}
what city does {name} live in|quelle est la ville de {name}|cuál es la ciudad de {name}
where is the home of {name}|où est la maison de {name}|dónde está la casa de {name}
where is {name} living now|où vit {name} maintenant|dónde vive {name} ahora
= colour | the favourite colour of {name} is {value} | {name} likes {value} best of all colours | {value} is the colour {name} prefers
what is the favourite colour of {name}|quelle est la couleur préférée de {name}|cuál es el color favorito de {name}
which colour does {name} like best|quelle couleur {name} aime le plus|qué color le gusta más a {name}
what colour does {name} love|quelle couleur adore {name}|qué color adora {name}
tell me the favourite colour of {name}|dis moi la couleur préférée de {name}|dime el color favorito de {name}
what colour is the favourite of {name}|quelle couleur est la préférée de {name}|qué color es el favorito de {name}
= pet | {name} has {a_value} | the pet of {name} is {a_value} | {name} keeps {a_value} at home
what animal does {name} have|quel animal a {name}|qué animal tiene {name}
which pet does {name} own|quel animal possède {name}|qué mascota tiene {name}
what kind of pet does {name} keep|quel animal de compagnie garde {name}|qué tipo de mascota cuida {name}
tell me the pet of {name}|dis moi quel animal a {name}|dime qué animal tiene {name}
what does {name} have as a pet|que possède {name} comme animal|qué tiene {name} como mascota
= job | {name} is {a_value} | {name} works as {a_value} | the work of {name} is {value}
what is the job of {name}|quel est le métier de {name}|cuál es el trabajo de {name}
what does {name} do for work|que fait {name} comme travail|en qué trabaja {name}
what work does {name} do|quel travail fait {name}|qué trabajo hace {name}
tell me the job of {name}|dis moi le métier de {name}|dime el trabajo de {name}
what is the profession of {name}|quelle est la profession de {name}|cuál es la profesión de {name}
= food | the favourite food of {name} is {value} | {name} likes {value} best of all food | {value} is the food {name} prefers
what is the favourite food of {name}|quel est le plat préféré de {name}|cuál es la comida favorita de {name}
what does {name} like to eat|quelle nourriture aime {name}|qué le gusta comer a {name}
which food does {name} love|quel plat adore {name}|qué comida adora {name}
tell me the favourite food of {name}|dis moi le plat préféré de {name}|dime la comida favorita de {name}
what does {name} eat most|que mange {name} le plus|qué come más {name}
= friend | the best friend of {name} is {value} | {name} and {value} are best friends | {value} is the best friend {name} has
who is the best friend of {name}|qui est le meilleur ami de {name}|quién es el mejor amigo de {name}
who is {name} friends with|avec qui {name} est ami|con quién es amigo {name}
which person is the best friend of {name}|quelle personne est le meilleur ami de {name}|qué persona es el mejor amigo de {name}
tell me the best friend of {name}|dis moi le meilleur ami de {name}|dime el mejor amigo de {name}
who does {name} like most|qui {name} aime le plus|a quién quiere más {name}
""")

# ---------------------------------------------------------------- grammar

UNACCENT = str.maketrans("áéíóú", "aeiou")


def fr_plural(word):
    if word.endswith(("s", "x", "z")):
        return word
    if word.endswith("al"):
        return word[:-2] + "aux"
    return word + ("x" if word.endswith("eau") else "s")


def es_plural(word):
    if word[-1] in "aeiouáéó":
        return word + "s"
    if word.endswith("z"):
        return word[:-1] + "ces"
    # the stress mark goes once the word grows a syllable: ratón -> ratones
    return word[:-2] + word[-2].translate(UNACCENT) + word[-1] + "es"


def fr_adj(adj, gender, plural):
    word = adj.fr_f if gender == "f" else adj.fr_m
    return fr_plural(word) if plural else word


def es_adj(adj, gender, plural):
    word = adj.es[:-1] + "a" if gender == "f" and adj.es.endswith("o") else adj.es
    return es_plural(word) if plural else word


def fr_article(gender, plural=False):
    return "les" if plural else {"m": "le", "f": "la"}[gender]


def es_article(gender, plural=False):
    return {"m": "el", "f": "la"}[gender] if not plural else {"m": "los", "f": "las"}[gender]


def en_article(word):
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(noun, count=1, definite=True, size=None, colour=None):
    """'the big red cat', 'two small dogs' or 'a green book' in en, fr and es."""
    plural = count > 1
    words = [a.en for a in (size, colour) if a] + [noun.en_pl if plural else noun.en]
    if definite:
        dets = ("the", fr_article(noun.fr_g, plural), es_article(noun.es_g, plural))
    elif plural:
        dets = NUMBERS[count - 1]
    else:
        dets = (en_article(words[0]), "une" if noun.fr_g == "f" else "un",
                "una" if noun.es_g == "f" else "un")
    fr = [dets[1]] + ([fr_adj(size, noun.fr_g, plural)] if size else [])
    fr += [fr_plural(noun.fr) if plural else noun.fr]
    fr += [fr_adj(colour, noun.fr_g, plural)] if colour else []
    es = [dets[2], es_plural(noun.es) if plural else noun.es]
    es += [es_adj(a, noun.es_g, plural) for a in (colour, size) if a]
    return " ".join([dets[0]] + words), " ".join(fr), " ".join(es)


def place_slots(place):
    """How a sentence refers to a place ('in the kitchen', 'of the kitchen'), per language."""
    fr_the = f"{fr_article(place.fr_g)} {place.fr}"
    es_the = f"{es_article(place.es_g)} {place.es}"
    return ({"room": place.en, "in": f"in the {place.en}"},
            {"in": f"dans {fr_the}", "the": fr_the,
             "of": f"du {place.fr}" if place.fr_g == "m" else f"de {fr_the}"},
            {"in": f"en {es_the}", "the": es_the,
             "of": f"del {place.es}" if place.es_g == "m" else f"de {es_the}"})

# ---------------------------------------------------------------- sentence kinds
# Each maker returns rows (en, fr, es, intent, answer, context).


def adjectives(rng, noun):
    size = rng.choice(SIZE_ADJS) if rng.random() < 0.4 else None
    # colours describe animals and things, not people
    colour = rng.choice(COLOURS) if noun.cls != "person" and rng.random() < 0.5 else None
    return size, colour


def subject(rng):
    """A subject phrase (en, fr, es), whether it is plural, whether it is human."""
    r = rng.random()
    if r < 0.25:
        name = rng.choice(NAMES)
        return (name, name, name), False, True
    noun = rng.choice(ANIMALS + PEOPLE)
    count = 1 if r < 0.6 else rng.randint(2, 10)
    return noun_phrase(noun, count, r < 0.75, *adjectives(rng, noun)), count > 1, noun.cls == "person"


def verb_forms(verb, plural):
    """(en, fr, es) of a verb (general or the council's) agreeing with its subject."""
    return (verb.en_pl, verb.fr_pl, verb.es_pl) if plural else (verb.en, verb.fr, verb.es)


def describe(rng):
    if rng.random() < MENTION:
        return mention(rng)
    subj, plural, human = subject(rng)
    transitive = rng.random() < 0.6
    verb = rng.choice([v for v in (TRANSITIVE if transitive else INTRANSITIVE) if human or not v.human])
    parts = [subj, verb_forms(verb, plural)]
    if transitive:
        noun, r = rng.choice(ANIMALS + OBJECTS), rng.random()
        count = 1 if r < 0.65 else rng.randint(2, 10)
        parts.append(noun_phrase(noun, count, 0.4 <= r < 0.75, *adjectives(rng, noun)))
    if rng.random() < 0.5:
        parts.append(tuple(s["in"] for s in place_slots(rng.choice(PLACES))))
    return tuple(" ".join(p[i] for p in parts) for i in range(3)) + ("", "", "")


def command_slots(kind):
    """(en, fr, es) slot values for every value of a slot kind."""
    if kind == "room":
        return [place_slots(p) for p in ROOMS]
    if kind == "person":
        return [({"name": n},) * 3 for n in NAMES]
    if kind == "weather":
        return [tuple({"city": c[i], "day": d[i]} for i in range(3)) for c in CITIES for d in DAYS]
    slots = []
    for hour, period in itertools.product(range(1, 13), PERIODS):
        en, fr, es = NUMBERS[hour - 1]
        words = (en, "une heure" if hour == 1 else f"{fr} heures", "la una" if hour == 1 else f"las {es}")
        slots.append(tuple({"h": f"{w} {p}".strip()} for w, p in zip(words, period)))
    return slots


def command_groups(intent, kind, wordings):
    """One group per wording and slot value, holding its polite and plain variants."""
    groups = []
    for wording, slots in itertools.product(wordings, command_slots(kind)):
        base = [w.format_map(s) for w, s in zip(wording, slots)]
        extras = [SUFFIXES[v] if v else ("", "", "") for v in VARIANTS[kind]]
        groups.append([tuple(f"{b} {e}".strip() for b, e in zip(base, extra)) + (intent, "", "")
                       for extra in extras])
    return groups


def every_command():
    """Every command row the world's wordings and slots can make."""
    return [r for (intent, kind), wordings in sorted(COMMANDS)
            for group in command_groups(intent, kind, wordings) for r in group]


def pick_commands(rng, counts, used):
    queues = []
    for (intent, kind), wordings in sorted(COMMANDS):
        groups = [[r for r in g if r[0] not in used] for g in command_groups(intent, kind, wordings)]
        for group in groups:
            rng.shuffle(group)
        rng.shuffle(groups)
        queues.append(groups)
    # interleave the intents so that every split holds all of them in equal measure
    order = [g for turn in itertools.zip_longest(*queues) for g in turn if g]
    return fill_splits(order, counts, used)


def make_facts(rng):
    """[(name, attribute, value)]: what the world knows about each person."""
    values = {"city": [c[0] for c in CITIES], "colour": [c.en for c in COLOURS],
              "pet": [a.en for a in ANIMALS], "job": JOBS, "food": FOODS}
    return [(name, attr, rng.choice(values.get(attr) or [n for n in NAMES if n != name]))
            for name in NAMES for (attr, *_), _ in ATTRIBUTES]


def fact_statements(name, attr, value):
    statements = {a: s for (a, *s), _ in ATTRIBUTES}[attr]
    return [s.format(name=name, value=value, a_value=f"{en_article(value)} {value}") for s in statements]


def pick_questions(rng, facts, counts, used):
    """Questions about facts.  A fact asked in dev or test is also asked in train in
    another wording, so held-out questions test the wording, not new knowledge."""
    wordings = {attr: w for (attr, *_), w in ATTRIBUTES}
    order = rng.sample(facts, len(facts))
    unasked = {f: rng.sample(range(len(wordings[f[1]])), len(wordings[f[1]])) for f in order}
    chosen = {s: [] for s in SPLITS}
    held_out = iter(order)
    for split in ("test", "dev"):
        for fact in itertools.islice(held_out, counts[split]):
            chosen[split].append((fact, unasked[fact].pop()))
            chosen["train"].append((fact, unasked[fact].pop()))
    rest = [(f, w) for f in order for w in unasked[f]]
    rng.shuffle(rest)
    chosen["train"] += rest[:counts["train"] - len(chosen["train"])]
    picked = {s: [tuple(t.format(name=f[0]) for t in wordings[f[1]][w]) + ("", f[2], "")
                  for f, w in chosen[s]] for s in SPLITS}
    used.update(r[0] for rows in picked.values() for r in rows)
    return picked


# A passage fact is (kind, name, object, value): own "sara has a red box",
# put "sara put the box in the kitchen", count "sara has three boxes".
QUESTION_FACT = {"colour": "own", "who": "own", "where": "put", "count": "count"}


def passage_fact(rng, kind, name, obj):
    value = {"own": lambda: rng.choice(COLOURS), "put": lambda: rng.choice(ROOMS),
             "count": lambda: rng.randint(2, 10)}[kind]()
    return kind, name, obj, value


def fits(fact, facts):
    """Whether every question about the passage keeps a single answer with this fact."""
    kind, name, obj, value = fact
    return all((name, obj) != g[1:3] and not (kind == g[0] == "own" and (obj, value) == g[2:])
               for g in facts)


def clause(kind, name, obj, value):
    if kind == "own":
        return f"{name} has {noun_phrase(obj, definite=False, colour=value)[0]}"
    if kind == "put":
        return f"{name} put the {obj.en} in the {value.en}"
    return f"{name} has {NUMBERS[value - 1][0]} {obj.en_pl}"


def ask(qtype, name, obj, value):
    """(en, fr, es, answer) of a question about one passage fact."""
    le, el = fr_article(obj.fr_g), es_article(obj.es_g)
    if qtype == "colour":
        return (f"what colour is the {obj.en} of {name}", f"de quelle couleur est {le} {obj.fr} de {name}",
                f"de qué color es {el} {obj.es} de {name}", value.en)
    if qtype == "who":
        en, fr, es = noun_phrase(obj, definite=False, colour=value)
        return f"who has {en}", f"qui a {fr}", f"quién tiene {es}", name
    if qtype == "where":
        return (f"where did {name} put the {obj.en}", f"où {name} a mis {le} {obj.fr}",
                f"dónde puso {name} {el} {obj.es}", value.en)
    many = "cuántas" if obj.es_g == "f" else "cuántos"
    return (f"how many {obj.en_pl} does {name} have", f"combien de {fr_plural(obj.fr)} a {name}",
            f"{many} {es_plural(obj.es)} tiene {name}", NUMBERS[value - 1][0])


def passage_question(rng, distractor):
    """A row (en, fr, es, intent, answer, context): a question about one fact of
    a three-clause passage.  distractor(qtype, target, facts) draws another fact,
    or None to draw again; facts that would give a question two answers are
    drawn again too."""
    qtype = rng.choice(sorted(QUESTION_FACT))
    target = passage_fact(rng, QUESTION_FACT[qtype], rng.choice(NAMES), rng.choice(OBJECTS))
    facts = [target]
    while len(facts) < 3:
        fact = distractor(qtype, target, facts)
        if fact is not None and fits(fact, facts):
            facts.append(fact)
    rng.shuffle(facts)
    en, fr, es, answer = ask(qtype, *target[1:])
    return en, fr, es, "", answer, " and ".join(clause(*f) for f in facts)


def context_question(rng):
    def distractor(qtype, target, facts):
        # distractors often share the person or the object, so the passage must be read
        name = target[1] if rng.random() < 0.4 else rng.choice(NAMES)
        obj = target[2] if rng.random() < 0.4 else rng.choice(OBJECTS)
        return passage_fact(rng, rng.choice(("own", "put", "count")), name, obj)

    return passage_question(rng, distractor)

# ---------------------------------------------------------------- the target domain
# A council, the miniature's Europarl-ST: bodies and office holders debate, vote on and pass texts
# about public matters.  Its own words (bodies, office holders, texts, verbs, its topics and times)
# are the general world's only where it mentions them (MENTION); beside them a sentence's slots draw,
# each at SHARED, on the general world's people and names (as subjects), verbs (of an active
# sentence), animals, objects, places and cities (as topics) and days (as times): the ASR data hold
# those words, in other sentences.  Without them (SHARED 0) zero-shot Wav2Prompt transcribed nothing of the council (WER
# 90, BLEU 0.1 at default size, 2026-12-07): a few-shot pool then measures learning a new language,
# not adapting to a domain.  At 0.5 a fifth of the council's content words are the general world's.
# French: as above, no noun and no adjective
# before a noun starts with a vowel where "le", "la" or "de" would elide, and no construction puts
# "de", "ne" or "que" before a vowel; "de le" and "de les" contract to "du" and "des", Spanish "de el"
# to "del" (contract).

Phrase = namedtuple("Phrase", "en fr es fr_g es_g plural")
# bodies: "adj" marks those a body adjective describes ("the regional council")
BODIES = table("""
committee|committees|comité|m|comité|m|; council|councils|conseil|m|consejo|m|adj
parliament|parliaments|parlement|m|parlamento|m|adj; government|governments|gouvernement|m|gobierno|m|adj
senate|senates|sénat|m|senado|m|adj; delegation|delegations|délégation|f|delegación|f|
party|parties|parti|m|partido|m|; commission|commissions|commission|f|comisión|f|adj""", Noun)
OFFICIALS = table("""
minister|ministers|ministre|m|ministro|m|; president|presidents|président|m|presidente|m|
mayor|mayors|maire|m|alcalde|m|; senator|senators|sénateur|m|senador|m|
deputy|deputies|député|m|diputado|m|; member|members|membre|m|miembro|m|
commissioner|commissioners|commissaire|m|comisario|m|; secretary|secretaries|secrétaire|m|secretario|m|
rapporteur|rapporteurs|rapporteur|m|ponente|m|""", Noun)
# "the minister of health", "the health committee"
PORTFOLIOS = table("""
health|de la santé|de sanidad; finance|des finances|de hacienda; justice|de la justice|de justicia
defence|de la défense|de defensa; culture|de la culture|de cultura; trade|du commerce|de comercio
transport|des transports|de transportes; fisheries|de la pêche|de pesca; housing|du logement|de vivienda
labour|du travail|de trabajo; security|de la sécurité|de seguridad; tourism|du tourisme|de turismo""")
BODY_ADJS = table("""
national|national|nationale|nacional; regional|régional|régionale|regional; local|local|locale|local
federal|fédéral|fédérale|federal; provincial|provincial|provinciale|provincial""", Adj)
# texts, with the preposition of their topic ("the budget for schools", "the law on pensions")
Document = namedtuple("Document", "en en_pl fr fr_g es es_g prep")
DOCUMENTS = table("""
budget|budgets|budget|m|presupuesto|m|for; proposal|proposals|proposition|f|propuesta|f|on
law|laws|loi|f|ley|f|on; report|reports|rapport|m|informe|m|on; plan|plans|plan|m|plan|m|for
treaty|treaties|traité|m|tratado|m|on; motion|motions|motion|f|moción|f|on
reform|reforms|réforme|f|reforma|f|of; decree|decrees|décret|m|decreto|m|on
resolution|resolutions|résolution|f|resolución|f|on; strategy|strategies|stratégie|f|estrategia|f|for
directive|directives|directive|f|directiva|f|on""", Document)
PREPOSITIONS = {"on": ("on", "sur", "sobre"), "for": ("for", "pour", "para"), "of": ("of", "de", "de")}
DOCUMENT_ADJS = table("""
annual|annuel|annuelle|anual; final|final|finale|final; provisional|provisoire|provisoire|provisional
controversial|controversé|controversée|controvertido; ambitious|ambitieux|ambitieuse|ambicioso
modest|modeste|modeste|modesto""", Adj)
# topics: English bare, French and Spanish with their article
TOPICS = table("""
schools|les écoles|las escuelas; hospitals|les hôpitaux|los hospitales; taxes|les impôts|los impuestos
pensions|les retraites|las pensiones; roads|les routes|las carreteras; housing|le logement|la vivienda
fishing|la pêche|la pesca; tourism|le tourisme|el turismo; prisons|les prisons|las cárceles
railways|les chemins de fer|los ferrocarriles; borders|les frontières|las fronteras
wages|les salaires|los salarios; research|la recherche|la investigación
migration|la migration|la migración; ports|les ports|los puertos; rents|les loyers|los alquileres
medicines|les médicaments|los medicamentos; banks|les banques|los bancos
pollution|la pollution|la contaminación; public transport|les transports publics|el transporte público""")
CouncilVerb = namedtuple("CouncilVerb", "en en_pl en_pp fr fr_pl fr_inf fr_pp es es_pl es_inf es_pp")
COUNCIL_VERBS = table("""
approves|approve|approved|approuve|approuvent|approuver|approuvé|aprueba|aprueban|aprobar|aprobado
rejects|reject|rejected|rejette|rejettent|rejeter|rejeté|rechaza|rechazan|rechazar|rechazado
adopts|adopt|adopted|adopte|adoptent|adopter|adopté|adopta|adoptan|adoptar|adoptado
discusses|discuss|discussed|discute|discutent|discuter|discuté|discute|discuten|discutir|discutido
reviews|review|reviewed|examine|examinent|examiner|examiné|examina|examinan|examinar|examinado
supports|support|supported|soutient|soutiennent|soutenir|soutenu|apoya|apoyan|apoyar|apoyado
criticizes|criticize|criticized|critique|critiquent|critiquer|critiqué|critica|critican|criticar|criticado
presents|present|presented|présente|présentent|présenter|présenté|presenta|presentan|presentar|presentado
amends|amend|amended|modifie|modifient|modifier|modifié|modifica|modifican|modificar|modificado
signs|sign|signed|signe|signent|signer|signé|firma|firman|firmar|firmado
postpones|postpone|postponed|reporte|reportent|reporter|reporté|aplaza|aplazan|aplazar|aplazado
publishes|publish|published|publie|publient|publier|publié|publica|publican|publicar|publicado
defends|defend|defended|défend|défendent|défendre|défendu|defiende|defienden|defender|defendido
announces|announce|announced|annonce|annoncent|annoncer|annoncé|anuncia|anuncian|anunciar|anunciado
ratifies|ratify|ratified|ratifie|ratifient|ratifier|ratifié|ratifica|ratifican|ratificar|ratificado
blocks|block|blocked|bloque|bloquent|bloquer|bloqué|bloquea|bloquean|bloquear|bloqueado
prepares|prepare|prepared|prépare|préparent|préparer|préparé|prepara|preparan|preparar|preparado
withdraws|withdraw|withdrawn|retire|retirent|retirer|retiré|retira|retiran|retirar|retirado""", CouncilVerb)
# modal + infinitive: (en singular, en plural, fr singular, fr plural, es singular, es plural)
MODALS = table("""
must|must|doit|doivent|debe|deben; hopes to|hope to|espère|espèrent|espera|esperan
cannot|cannot|ne peut pas|ne peuvent pas|no puede|no pueden""")
# meetings, and what happens to them: (en, fr, es) of the predicate, "pp" for a participle
EVENTS = table("debate|debates|débat|m|debate|m|; vote|votes|vote|m|votación|f|; "
               "meeting|meetings|réunion|f|reunión|f|", Noun)
EVENT_PREDICATES = table("""
begins|commence|empieza; ends|se termine|termina; takes place|a lieu|tiene lugar; is postponed|pp|pp""")
COUNCIL_TIMES = table("""
this week|cette semaine|esta semana; next week|la semaine prochaine|la próxima semana
this year|cette année|este año; next month|le mois prochain|el próximo mes; on monday|lundi|el lunes
on tuesday|mardi|el martes; on wednesday|mercredi|el miércoles; on thursday|jeudi|el jueves
on friday|vendredi|el viernes; before the elections|avant les élections|antes de las elecciones
after the elections|après les élections|después de las elecciones; in the spring|au printemps|en primavera
in the autumn|en automne|en otoño; at the next session|à la prochaine session|en la próxima sesión""")
POSTPONED = next(v for v in COUNCIL_VERBS if v.en == "postpones")
SHARED = 0.5  # the share of subjects, verbs, topics and times drawn from the general world
# the general world's things as topics, (en, fr, es) with their articles: "on cows", "for the park"
SHARED_TOPICS = ([(n.en_pl, f"les {fr_plural(n.fr)}", f"{es_article(n.es_g, True)} {es_plural(n.es)}")
                  for n in ANIMALS + OBJECTS]
                 + [(f"the {p.en}", f"{fr_article(p.fr_g)} {p.fr}", f"{es_article(p.es_g)} {p.es}")
                    for p in PLACES if not p.room]
                 + [c for c in CITIES if c[0] != "oslo"])  # (French "de oslo" would elide)
SHARED_CITIES = [c for c in CITIES if c[0] != "oslo"]
SHARED_VERBS = [v for v in TRANSITIVE if v.en in ("wants", "has", "finds", "loses", "sees", "sells")]


def contract(fr, es):
    """French "de le" / "de les" and Spanish "de el" as written."""
    fr = re.sub(r"\bde les\b", "des", re.sub(r"\bde le\b", "du", fr))
    return fr, re.sub(r"\bde el\b", "del", es)


def phrase(en, fr, es, fr_g="m", es_g="m", plural=False):
    return Phrase(en, *contract(fr, es), fr_g, es_g, plural)


def topic_phrase(prep, topic):
    """'on pensions', 'sur les retraites', 'sobre las pensiones'."""
    return tuple(f"{p} {t}" for p, t in zip(PREPOSITIONS[prep], topic))


def body_phrase(body, adj=None, portfolio=None):
    """'the regional council', 'the health committee'."""
    en = " ".join(["the"] + ([adj.en] if adj else []) + ([portfolio[0]] if portfolio else []) + [body.en])
    fr = [fr_article(body.fr_g), body.fr] + ([fr_adj(adj, body.fr_g, False)] if adj else [])
    es = [es_article(body.es_g), body.es] + ([es_adj(adj, body.es_g, False)] if adj else [])
    if portfolio:
        fr, es = fr + [portfolio[1]], es + [portfolio[2]]
    return phrase(en, " ".join(fr), " ".join(es), body.fr_g, body.es_g)


def official_phrase(official, plural=False, portfolio=None, body=None):
    """'the minister of health', 'the members of the regional council', 'the senators'."""
    en = f"the {official.en_pl if plural else official.en}"
    fr = f"{fr_article(official.fr_g, plural)} {fr_plural(official.fr) if plural else official.fr}"
    es = f"{es_article(official.es_g, plural)} {es_plural(official.es) if plural else official.es}"
    if portfolio:
        en, fr, es = f"{en} of {portfolio[0]}", f"{fr} {portfolio[1]}", f"{es} {portfolio[2]}"
    elif body:
        en, fr, es = f"{en} of {body.en}", f"{fr} de {body.fr}", f"{es} de {body.es}"
    return phrase(en, fr, es, official.fr_g, official.es_g, plural)


def document_phrase(doc, definite=True, plural=False, adj=None, topic=None):
    """'the annual budget for schools', 'a proposal on pensions', 'the laws'."""
    words = ([adj.en] if adj else []) + [doc.en_pl if plural else doc.en]
    if definite:
        dets = ("the", fr_article(doc.fr_g, plural), es_article(doc.es_g, plural))
    elif plural:  # "proposals", "des propositions", "propuestas"
        dets = ("", "des", "")
    else:
        dets = (en_article(words[0]), "une" if doc.fr_g == "f" else "un", "una" if doc.es_g == "f" else "un")
    fr = [dets[1], fr_plural(doc.fr) if plural else doc.fr] + ([fr_adj(adj, doc.fr_g, plural)] if adj else [])
    es = [dets[2], es_plural(doc.es) if plural else doc.es] + ([es_adj(adj, doc.es_g, plural)] if adj else [])
    parts = [[w for w in p if w] for p in ([dets[0]] + words, fr, es)]
    if topic:
        parts = [p + [t] for p, t in zip(parts, topic_phrase(doc.prep, topic))]
    return phrase(*(" ".join(p) for p in parts), doc.fr_g, doc.es_g, plural)


def fr_participle(word, gender, plural):
    return word + ("e" if gender == "f" else "") + ("s" if plural else "")


def es_participle(word, gender, plural):
    return (word[:-1] + "a" if gender == "f" else word) + ("s" if plural else "")


def sentence(*parts):
    """(en, fr, es) of phrases and (en, fr, es) triples, joined word by word, contracted."""
    joined = [" ".join(p[i] for p in parts if p[i]) for i in range(3)]
    return (joined[0],) + contract(*joined[1:])


def active(subj, verb, obj, time=("", "", "")):
    """'the regional council approves the annual budget this week'."""
    return sentence(subj, verb_forms(verb, subj.plural), obj, time)


def passive(obj, verb, agent, time=("", "", "")):
    """'the proposals on pensions are rejected by the senate on monday'."""
    aux = ("are", "sont", "son") if obj.plural else ("is", "est", "es")
    pp = (verb.en_pp, fr_participle(verb.fr_pp, obj.fr_g, obj.plural), es_participle(verb.es_pp, obj.es_g, obj.plural))
    by = tuple(f"{b} {a}" for b, a in zip(("by", "par", "por"), agent[:3]))
    return sentence(obj, aux, pp, by, time)


def vote(subj, against, obj, time=("", "", "")):
    """'the members vote against the proposal' (French contre/pour, Spanish en contra de/a favor de)."""
    en = ("votes", "vote")[subj.plural] + (" against" if against else " for")
    fr = ("vote", "votent")[subj.plural] + (" contre" if against else " pour")
    es = ("vota", "votan")[subj.plural] + (" en contra de" if against else " a favor de")
    return sentence(subj, (en, fr, es), obj, time)


def event(name, about, predicate, time=("", "", "")):
    """'the debate on schools begins on monday', 'the meeting on the budget is postponed'.
    `about` is a topic or a document phrase, or None: 'the meeting ends in the park'."""
    words = [(f"the {name.en}", f"{fr_article(name.fr_g)} {name.fr}", f"{es_article(name.es_g)} {name.es}")]
    words += [topic_phrase("on", about)] if about else []
    if predicate[1] == "pp":
        predicate = (predicate[0], "est " + fr_participle(POSTPONED.fr_pp, name.fr_g, False),
                     "es " + es_participle(POSTPONED.es_pp, name.es_g, False))
    return sentence(*words, predicate, time)


def modal(subj, mod, verb, obj, time=("", "", "")):
    """'the government must approve the budget', 'the council cannot sign the treaty'."""
    forms = mod[1::2] if subj.plural else mod[0::2]
    return sentence(subj, forms, (verb.en_pl, verb.fr_inf, verb.es_inf), obj, time)


def reported(subj, clause):
    """'the minister of health says that the government supports the reform of pensions'."""
    says = ("say that", "disent que", "dicen que") if subj.plural else ("says that", "dit que", "dice que")
    return sentence(subj, says, clause)


def council_body(rng):
    body = rng.choice(BODIES)
    if body.en == "committee":
        return body_phrase(body, portfolio=rng.choice(PORTFOLIOS) if rng.random() < 0.7 else None)
    return body_phrase(body, adj=rng.choice(BODY_ADJS) if body.cls and rng.random() < 0.5 else None)


def shared_subject(rng):
    """The general world's people in council sentences: 'the farmers', 'the queen', 'sara', 'the mayor of rome'."""
    r = rng.random()
    if r < 0.5:
        person = rng.choice(PEOPLE)
        return official_phrase(person, plural=rng.random() < 0.6)
    if r < 0.7:
        name = rng.choice(NAMES)
        return phrase(name, name, name, "f" if name[-1] == "a" else "m")
    city = rng.choice(SHARED_CITIES)
    if rng.random() < 0.5:
        return phrase(f"the mayor of {city[0]}", f"le maire de {city[1]}", f"el alcalde de {city[2]}")
    body = rng.choice([b for b in BODIES if b.cls])
    return phrase(f"the {body.en} of {city[0]}", f"{fr_article(body.fr_g)} {body.fr} de {city[1]}",
                  f"{es_article(body.es_g)} {body.es} de {city[2]}", body.fr_g, body.es_g)


def council_subject(rng):
    """A body or office holder(s): 'the regional council', 'the minister of health', 'the members of the senate';
    at SHARED the general world's people instead."""
    if rng.random() < SHARED:
        return shared_subject(rng)
    return council_own_subject(rng)


def council_own_subject(rng):
    if rng.random() < 0.4:
        return council_body(rng)
    official = rng.choice(OFFICIALS)
    plural = official.en == "member" or (official.en not in ("president", "mayor") and rng.random() < 0.3)
    if official.en in ("minister", "commissioner") and not plural and rng.random() < 0.7:
        return official_phrase(official, portfolio=rng.choice(PORTFOLIOS))
    if official.en in ("member", "president", "secretary") and rng.random() < 0.8:
        return official_phrase(official, plural, body=council_body(rng))
    return official_phrase(official, plural)


def council_document(rng, definite=True, plural=None, topic=True):
    plural = rng.random() < 0.15 if plural is None else plural
    return document_phrase(rng.choice(DOCUMENTS), definite, plural,
                           rng.choice(DOCUMENT_ADJS) if rng.random() < 0.35 else None,
                           council_topic(rng) if topic and rng.random() < 0.6 else None)


def council_topic(rng):
    return rng.choice(SHARED_TOPICS if rng.random() < SHARED else TOPICS)


def council_time(rng, share):
    if rng.random() >= share:
        return ("", "", "")
    return rng.choice(DAYS if rng.random() < SHARED else COUNCIL_TIMES)


def council(rng):
    """A row (en, fr, es, intent, answer, context) of the target domain: one of six constructions."""
    r = rng.random()
    if r < 0.25:
        row = active(council_subject(rng), rng.choice(SHARED_VERBS if rng.random() < SHARED else COUNCIL_VERBS),
                     council_document(rng, definite=rng.random() < 0.75), council_time(rng, 0.4))
    elif r < 0.42:
        row = passive(council_document(rng), rng.choice(COUNCIL_VERBS), council_subject(rng), council_time(rng, 0.4))
    elif r < 0.59:
        row = vote(council_subject(rng), rng.random() < 0.5, council_document(rng), council_time(rng, 0.3))
    elif r < 0.74:
        predicate = rng.choice(EVENT_PREDICATES)
        about = council_topic(rng) if rng.random() < 0.6 else council_document(rng, plural=False, topic=False)
        row = event(rng.choice(EVENTS), about, predicate, council_time(rng, 0.0 if predicate[1] == "pp" else 1.0))
    elif r < 0.89:
        row = modal(council_subject(rng), rng.choice(MODALS), rng.choice(COUNCIL_VERBS),
                    council_document(rng), council_time(rng, 0.3))
    else:
        clause = (active(council_subject(rng), rng.choice(COUNCIL_VERBS), council_document(rng)) if rng.random() < 0.5
                  else vote(council_subject(rng), rng.random() < 0.5, council_document(rng)))
        row = reported(council_subject(rng), clause)
    return row + ("", "", "")


# ---------------------------------------------------------------- the council's words in general sentences
# LibriSpeech holds most of Europarl-ST's words, in sentences of its own.  So does the general world: a share
# MENTION of its describe sentences put one of the council's words or constructions into a sentence of the
# general world's ("the minister sleeps in the garden", "tom approves the red box", "sara finds the annual
# report on pensions", "the cats vote against the old car", "the meeting ends in the park", "tom says that
# the dog runs", "the cat sleeps next week"): the ASR data hear the council's words, never its sentences
# (drawn after the general world's, none equal to one).  With none (MENTION 0), no speech system wrote a
# council sentence zero-shot (WER 88-92 at default size, 2026-12-07), in the held-out voice alone too
# (87.6): a few-shot pool then had to teach words no ASR stage had heard, which Europarl-ST's did not.
MENTION = 0.5


def general_subject(rng, human=False):
    """subject() as a phrase (a person or a name where `human`), and whether it is human."""
    while True:
        (en, fr, es), plural, is_human = subject(rng)
        if is_human or not human:
            return phrase(en, fr, es, plural=plural), is_human


def general_object(rng):
    """An animal or a thing as a phrase (its gender and number agree a participle)."""
    noun, r = rng.choice(ANIMALS + OBJECTS), rng.random()
    count = 1 if r < 0.65 else rng.randint(2, 10)
    return Phrase(*noun_phrase(noun, count, r < 0.75, *adjectives(rng, noun)), noun.fr_g, noun.es_g, count > 1)


def general_place(rng, share=0.4):
    return tuple(s["in"] for s in place_slots(rng.choice(PLACES))) if rng.random() < share else ("", "", "")


def mention(rng):
    """A general sentence with one of the council's words or constructions (MENTION)."""
    r = rng.random()
    if r < 0.15:  # a body or office holder does what the general world's people do
        subj = council_own_subject(rng)
        transitive = rng.random() < 0.6
        verb = rng.choice(TRANSITIVE if transitive else INTRANSITIVE)
        row = sentence(subj, verb_forms(verb, subj.plural), general_object(rng) if transitive else ("", "", ""),
                       general_place(rng))
    elif r < 0.3:  # a council verb on a thing of the general world
        row = active(general_subject(rng, human=True)[0], rng.choice(COUNCIL_VERBS), general_object(rng),
                     general_place(rng))
    elif r < 0.4:  # a council text (on one of the council's topics) in the general world's hands
        subj, human = general_subject(rng)
        verb = rng.choice([v for v in TRANSITIVE if human or not v.human])
        row = sentence(subj, verb_forms(verb, subj.plural), mentioned_document(rng), general_place(rng, 0.3))
    elif r < 0.5:  # a thing of the general world, as a council's text is treated
        row = passive(general_object(rng), rng.choice(COUNCIL_VERBS), general_subject(rng, human=True)[0])
    elif r < 0.55:
        row = vote(general_subject(rng)[0], rng.random() < 0.5, general_object(rng), general_place(rng))
    elif r < 0.65:
        row = modal(general_subject(rng, human=True)[0], rng.choice(MODALS), rng.choice(COUNCIL_VERBS),
                    general_object(rng), general_place(rng, 0.3))
    elif r < 0.75:  # a meeting, in a place of the general world
        predicate = rng.choice(EVENT_PREDICATES)
        place = general_place(rng, 1.0)
        row = event(rng.choice(EVENTS), None, predicate, place if predicate[1] == "pp" or rng.random() < 0.5
                    else sentence(place, rng.choice(DAYS)))
    elif r < 0.85:  # reported speech: "que" precedes a name, "le", "la", "les" or a number, never a vowel
        clause = describe_plain(rng)
        subj = general_subject(rng, human=True)[0]
        row = reported(subj, clause)
    else:  # the council's times
        row = sentence(describe_plain(rng), rng.choice(COUNCIL_TIMES))
    return row + ("", "", "")


def mentioned_document(rng):
    return document_phrase(rng.choice(DOCUMENTS), rng.random() < 0.75, rng.random() < 0.3,
                           rng.choice(DOCUMENT_ADJS) if rng.random() < 0.35 else None,
                           rng.choice(TOPICS) if rng.random() < 0.7 else None)


def describe_plain(rng):
    """A describe sentence without a mention, as (en, fr, es)."""
    row = describe(rng)
    while set(row[0].split()) & council_words():
        row = describe(rng)
    return row[:3]


# function words: the English words of the council's own phrases that the general world has too
FUNCTION_WORDS = set("the a an of on for in at by is are that to this next before after".split())


def council_words():
    """The English words of the target domain's own tables that are not function words (its shared slots draw
    on the general world's tables; the general world holds these only in its mentions)."""
    tables = [BODIES, OFFICIALS, DOCUMENTS, EVENTS]
    words = {w for t in tables for n in t for w in (n.en, n.en_pl)}
    words |= {w for t in (PORTFOLIOS, TOPICS, COUNCIL_TIMES, EVENT_PREDICATES) for r in t for w in r[0].split()}
    words |= {w for m in MODALS for w in f"{m[0]} {m[1]}".split()}
    words |= {a.en for a in BODY_ADJS + DOCUMENT_ADJS}
    words |= {w for v in COUNCIL_VERBS for w in (v.en, v.en_pl, v.en_pp)}
    words |= {"votes", "vote", "against", "says", "say"}
    return words - FUNCTION_WORDS


# ---------------------------------------------------------------- splits and output


def fill_splits(groups, counts, used):
    """Fill test, dev then train from groups of rows; a group never spans two splits."""
    picked, groups = {s: [] for s in SPLITS}, iter(groups)
    for split in ("test", "dev", "train"):
        while len(picked[split]) < counts[split]:
            group = next(groups, None)
            if group is None:
                raise ValueError(f"too few distinct sentences for {split}")
            picked[split] += group[:counts[split] - len(picked[split])]
        used.update(r[0] for r in picked[split])
    return picked


def sample_unique(rng, make, counts, used):
    rows, seen, total = [], set(used), sum(counts.values())
    for _ in range(50 * total):
        row = make(rng)
        if row[0] not in seen:
            seen.add(row[0])
            rows.append([row])
            if len(rows) == total:
                return fill_splits(rows, counts, used)
    raise ValueError(f"too few distinct sentences from {make.__name__}")


def build_world(seed=1, size="default"):
    """(rows, facts): rows are tuples in HEADER order, facts English statements."""
    rng = random.Random(seed)
    counts = {k: {s: COUNTS[size][s][i] for s in SPLITS} for i, k in enumerate(KINDS)}
    facts, used = make_facts(rng), set()
    picked = {"question": pick_questions(rng, facts, counts["question"], used),
              "command": pick_commands(rng, counts["command"], used),
              "context_question": sample_unique(rng, context_question, counts["context_question"], used),
              "describe": sample_unique(rng, describe, counts["describe"], used)}
    rows = []
    for split in SPLITS:
        split_rows = [(split, kind) + r + ("general",) for kind in KINDS for r in picked[kind][split]]
        rows += [(f"{split}-{i:05d}",) + r for i, r in enumerate(split_rows, 1)]
    # its own generator: the general world's rows are the same with or without the target domain
    rng, counts = random.Random(f"{seed}/council"), TARGET_COUNTS[size]
    target = sample_unique(rng, council, {s: counts[s] for s in SPLITS}, used)
    for split in SPLITS:
        rows += [(f"council-{TARGET_ROLES[split]}-{i:05d}", TARGET_SPLITS[split], "describe") + r + ("council",)
                 for i, r in enumerate(target[split], 1)]
    text = sample_unique(rng, council, {"train": counts["text"], "dev": 0, "test": 0}, used)["train"]
    rows += [(f"council-text-{i:05d}", "train", "describe") + r + ("council_text",) for i, r in enumerate(text, 1)]
    check(rows)
    return rows, [s for f in facts for s in fact_statements(*f)]


def check(rows):
    """The promises the rest of the recipe relies on."""
    plain, seen = re.compile(r"[a-z]+( [a-z]+)*"), set()
    for row in rows:
        if not plain.fullmatch(row[3]) or row[3] in seen:
            raise ValueError(f"bad or repeated sentence: {row[3]!r}")
        seen.add(row[3])
        if any("\t" in f or "\n" in f for f in row) or not (row[4] and row[5]):
            raise ValueError(f"bad row: {row!r}")


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines("\t".join(row) + "\n" for row in [header] + list(rows))


def summary(rows, facts):
    target, n_text = [r for r in rows if r[9].startswith("council")], sum(r[9] == "council_text" for r in rows)
    rows = [r for r in rows if r[9] == "general"]
    counts, width = Counter((r[1], r[2]) for r in rows), max(map(len, KINDS))
    lines = [" " * 6 + " ".join(k.rjust(width) for k in KINDS + ("total",))]
    for split in SPLITS:
        cells = [counts[split, k] for k in KINDS]
        lines.append(split.ljust(6) + " ".join(str(c).rjust(width) for c in cells + [sum(cells)]))
    vocab = [len({w for r in rows for w in r[col].split()}) for col in (3, 4, 5)]
    english = {w for text in [r[3] + " " + r[8] for r in rows] + facts for w in text.split()}
    lines.append(f"vocabulary: en {vocab[0]} words ({len(english)} with facts and contexts), "
                 f"fr {vocab[1]}, es {vocab[2]}")
    lines.append(f"fact statements: {len(facts)}, intents: {len({r[6] for r in rows if r[6]})}")
    splits, words = Counter(r[1] for r in target), {w for r in target for w in r[3].split()}
    lines.append(f"target domain (council): pool {splits['train'] - n_text}, dev {splits['target_dev']}, "
                 f"test {splits['target_test']}, text only {n_text}; en {len(words)} words "
                 f"({len(words & council_words())} of its own), fr {len({w for r in target for w in r[4].split()})}, "
                 f"es {len({w for r in target for w in r[5].split()})}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", choices=sorted(COUNTS), default="default")
    args = parser.parse_args(argv)
    rows, facts = build_world(args.seed, args.size)
    os.makedirs(args.out, exist_ok=True)
    write_tsv(os.path.join(args.out, "sentences.tsv"), HEADER, rows)
    write_tsv(os.path.join(args.out, "facts.tsv"), ("fact",), [(f,) for f in facts])
    print(summary(rows, facts))


if __name__ == "__main__":
    main()
