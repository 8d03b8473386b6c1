"""Which files of a class folder are images: by extension, case-insensitive."""
import pytest

from modules import image_files
from modules.image_files import is_image_file, partition_image_files


@pytest.mark.parametrize("name", ["a.png", "b.JPG", "c.jpeg", "d.Jpe", "e.gif", "f.bmp",
                                  "g.webp", "h.TIFF", "dir.with.dots/i.png"])
def test_image_extensions_are_images(name):
    assert is_image_file(name)


@pytest.mark.parametrize("name", ["notes.txt", "Thumbs.db", "desktop.ini", "labels.csv",
                                  "README", "png", "a.png.txt", "a.pngx", "x.pdf"])
def test_other_files_are_not(name):
    assert not is_image_file(name)


def test_partition_keeps_order_and_loses_nothing():
    paths = ["t/c/b.png", "t/c/notes.txt", "t/c/a.JPG", "t/c/Thumbs.db"]
    images, ignored = partition_image_files(paths)
    assert images == ["t/c/b.png", "t/c/a.JPG"] and ignored == ["t/c/notes.txt", "t/c/Thumbs.db"]


def test_ignored_paths_are_relative_sorted_and_mark_folders():
    from modules.image_files import ignored_paths
    assert ignored_paths("/d", ["/d/t/c/a.png", "/d/t/c/notes.txt"], ["/d/t/c/extra"],
                         ["/d/t/stray.png"]) == ["t/c/extra/", "t/c/notes.txt", "t/stray.png"]


@pytest.mark.parametrize("files,fraction,allowed", [
    (44, 0.01, 1),     # a carved validation split: one bad download is not a broken tree
    (126, 0.01, 1), (200, 0.01, 2), (203, 0.01, 2), (1000, 0.05, 50),
    (7, 0.5, 3), (10, 0.0, 0),  # 0: strict, no file may be lost
])
def test_quarantine_allowance_is_the_fraction_with_a_one_file_floor(files, fraction, allowed):
    assert image_files.quarantine_allowance(files, fraction) == allowed
