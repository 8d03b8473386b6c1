"""modules/class_names.shown: a list of class names joined with ', ' can be split again."""
from modules.class_names import shown


def test_plain_names_stay_and_others_are_quoted_so_a_list_splits_again():
    assert [shown(n) for n in ("shirt", "sandale_é", "靴")] == ["shirt", "sandale_é", "靴"]
    assert shown("t shirt, top") == "'t shirt, top'" and shown("a;b") == "'a;b'"
    assert shown("it's") == '"it\'s"' and shown(" padded") == "' padded'"


def test_control_characters_are_never_shown_bare():
    """ESC and other control characters drive a terminal: such a name is shown as its repr."""
    assert shown("a\x1bcb") == "'a\\x1bcb'" and shown("bell\x07") == "'bell\\x07'"


def test_names_that_break_labels_txt_or_a_reader_have_a_problem():
    from modules.class_names import name_problem
    for ok in ("shirt", "t shirt, top", "café", "狗", "0", "<b>&amp;",
               "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, ZWNJ
               "\U0001f469\u200d\U0001f4bb", "soft\u00adhyphen"):  # ZWJ emoji sequence
        assert name_problem(ok) is None, ok
    assert name_problem("") == "an empty name"
    assert name_problem(" cat") == name_problem("cat ") == "leading or trailing white space"
    assert "U+000A" in name_problem("cat\ndog")
    assert "U+202E" in name_problem("abc\u202etxt.exe")  # right-to-left override
    assert "U+2066" in name_problem("a\u2066b") and "U+200F" in name_problem("a\u200fb")
    assert "U+2028" in name_problem("a\u2028b") and "U+001B" in name_problem("a\x1b[2Jb")
