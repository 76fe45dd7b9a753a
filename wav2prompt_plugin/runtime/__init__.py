"""What the commands install into their process (runtime/process.py), and what the package checks and
does before it registers anything (requirements, a quiet fairseq import)."""
