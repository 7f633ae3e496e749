"""Helpers shared by the test suite: free ports, managed processes, waiting."""
