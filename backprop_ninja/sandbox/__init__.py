"""Where learner code runs: the worker process, the wire, the scan, opening a file."""
