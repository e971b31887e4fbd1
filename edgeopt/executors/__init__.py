"""Ways of running a recipe's steps other than one after another (`edgeopt run --executor`).

The sequential loop lives in `edgeopt.pipeline`; each module here implements its
`StepExecutor` protocol and writes every step through `pipeline.commit_step`, so the run folder,
fingerprints and resume are the same whichever ran the steps.
"""
