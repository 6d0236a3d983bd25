"""Helpers the tests share: browsers, servers, small projects and exports."""
