"""The tools around the server: the ``toolserver`` command line (:mod:`.cli`), the plugin
scaffold (:mod:`.scaffold`), the plugin linter (:mod:`.check`) and the agent-config export
(:mod:`.export`)."""
