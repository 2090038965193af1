"""Interventions (issue 23): what happens to an explained output when part of the model is changed. Head knockout
(`knockout.py`), attention editing (`editing.py`) and activation patching (`patching.py`), all through the run
handle (`generator.model_run.ModelRun`); the explained output in `explained.py`, options in `options.py`, the payload
section and the method record in `section.py`."""
