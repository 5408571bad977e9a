"""The service's processes and its command line, ``naumu-jira``."""
