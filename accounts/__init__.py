"""Accounts: sign-up, log-in and password pages, the learner's own address, throttles."""
