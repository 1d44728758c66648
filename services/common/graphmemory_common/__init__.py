"""What the GraphMemory-IDE services share: HTTP metrics (`metrics`) and JSON log lines with request ids (`logs`).

Both images copy this package beside their `app` package (/srv/<service>/graphmemory_common); the test suites put
services/common on sys.path (tests/conftest.py of each service).
"""
