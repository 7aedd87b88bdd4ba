"""Runs last (file order): the whole suite left no container, network or volume behind."""

from conftest import VOLUMES_AT_START

from workbook.docker import docker, leftovers


def test_nothing_of_the_suite_is_left_behind():
    assert leftovers() == {}, "left behind (remove with 'make cleanup')"


def test_no_volume_appeared_during_the_suite():
    """Anonymous volumes (from an image's VOLUME) carry no label: compare with the start."""
    now = set(docker("volume", "ls", "--quiet").stdout.split())
    assert now - VOLUMES_AT_START == set()
