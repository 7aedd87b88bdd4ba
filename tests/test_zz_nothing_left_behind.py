"""Runs last (file order): the whole suite left no container, network or volume behind."""

from workbook.docker import leftovers


def test_nothing_of_the_suite_is_left_behind():
    assert leftovers() == {}, "left behind (remove with 'make cleanup')"
