"""modules/class_names.shown: a list of class names joined with ', ' can be split again."""
from modules.class_names import shown


def test_plain_names_stay_and_others_are_quoted_so_a_list_splits_again():
    assert [shown(n) for n in ("shirt", "sandale_é", "靴")] == ["shirt", "sandale_é", "靴"]
    assert shown("t shirt, top") == "'t shirt, top'" and shown("a;b") == "'a;b'"
    assert shown("it's") == '"it\'s"' and shown(" padded") == "' padded'"
