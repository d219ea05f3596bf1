"""tasks.translate / translate_batch / `llmkit translate`: scripted replies good and bad
(dropped placeholders retried then reported, preambles stripped, Markdown kept, code
never sent), chunking by the model's window, batches with a failing item, a tiny
random local model, and SmolLM2 end to end (slow)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from task_doubles import scripted

import llmkit
from llmkit.errors import ContextLengthError, TaskError, UsageError
from llmkit.tasks import Translation, translate, translate_batch
from llmkit.tasks._protect import find_items, skeleton

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def chats(client):
    """The user message of every chat the mock was sent."""
    return [payload[-1].text for kind, payload, _ in client.backend.calls if kind == "chat"]


def text_of(prompt):
    """The text in a prompt: after the instruction's paragraph."""
    return prompt.split("\n\n", 1)[1]


def test_masked_placeholders_come_back():
    client = scripted("Bonjour [1], vous avez [2] messages dans [3].")
    r = translate("Hello %(name)s, you have {count} messages in `inbox`.", to="fr", model=client)
    assert r == Translation("Bonjour %(name)s, vous avez {count} messages dans `inbox`.", "auto", "fr", 1, [])
    (prompt,) = chats(client)
    assert "Hello [1], you have [2] messages in [3]." in prompt  # the model saw tokens, not the spans
    assert "to French" in prompt and "Detect its language" in prompt


def test_verify_mode_sends_placeholders_as_they_are():
    client = scripted("Bonjour %(name)s !")
    r = translate("Hello %(name)s!", to="fr", source="en", model=client, protect="verify")
    assert r.text == "Bonjour %(name)s !" and r.source == "en" and not r.issues
    assert "from English to French" in chats(client)[0] and "Hello %(name)s!" in chats(client)[0]


def test_dropped_placeholder_is_retried_with_the_reason():
    client = scripted("Bonjour !", "Bonjour %(name)s !")
    r = translate("Hello %(name)s!", to="fr", model=client)
    assert r.text == "Bonjour %(name)s !" and r.issues == []
    first, second = client.backend.calls
    assert "[1]" in text_of(first[1][-1].text)
    assert [m.role for m in second[1]][-2:] == ["assistant", "user"]
    assert "lost %(name)s" in second[1][-1].text  # told what was wrong
    assert "Hello %(name)s!" in second[1][-1].text  # and asked the other way (as is)


def test_placeholder_still_dropped_the_words_around_it_are_translated_and_reported():
    client = scripted("Bonjour !", "Salut !", "Bonjour")
    r = translate("Hello %(name)s!", to="fr", model=client)
    assert r.text == "Bonjour %(name)s!"  # kept by llmkit: never lost
    assert text_of(chats(client)[2]) == "Hello"  # the words alone
    assert len(r.issues) == 1 and r.issues[0].startswith("chunk 1 (Hello %(name)s!): the model kept losing")


def test_a_stray_token_copied_from_the_examples_is_caught():
    r = translate("%s MB", to="fr", model=scripted("[1] Mo, vous avez [2] messages.", "%s Mo"))
    assert r.text == "%s Mo" and r.issues == []


def test_duplicated_placeholder_is_retried_then_kept_once():
    r = translate("Delete %s?", to="fr", model=scripted("Supprimer [1] [1] ?", "Supprimer %s %s ?", "Supprimer"))
    assert r.text == "Supprimer %s?" and "translated the words between them" in r.issues[0]


def test_words_that_gain_a_placeholder_even_then_stay_untranslated_and_reported():
    client = scripted("Bonjour", "Bonjour", "Bonjour {0}", "Bonjour {0}")
    r = translate("Hello there %s", to="fr", model=client)
    assert r.text == "Hello there %s"  # a wrong placeholder never gets in
    assert r.issues[1] == "chunk 1 (Hello there %s): left 'Hello there' untranslated (the model added spans to it)"


@pytest.mark.parametrize(
    "reply",
    [
        "Sure! Here is the French translation:\n\nBonjour [1] !",
        "Here's the translation:\nBonjour [1] !",
        "**Translation:**\n\nBonjour [1] !",
        "French: Bonjour [1] !",
        "Translation: Bonjour [1] !",
        '"Bonjour [1] !"',
        "```\nBonjour [1] !\n```",
        "Bonjour [1] !\n\nNote: I kept the placeholder [1] unchanged.",
        'Translation:\n\nBonjour [1] !\n\nExplanation:\n\n- "Hello" is "Bonjour".',
    ],
)
def test_preamble_and_notes_are_stripped(reply):
    r = translate("Hello %(name)s!", to="fr", model=scripted(reply))
    assert r.text == "Bonjour %(name)s !" and r.issues == []


def test_a_real_first_line_with_a_colon_stays():
    source = "Voici le plan :\n\n- manger\n- dormir"
    reply = "Here is the plan:\n\n- eat\n- sleep"
    r = translate(source, to="en", source="fr", model=scripted(reply))
    assert r.text == reply


def test_fenced_code_is_never_sent_and_kept_verbatim():
    code = "```python\nprint('Hello %s' % name)  # Hello\n```\n"
    source = f"Say hello:\n\n{code}\nThen say goodbye."
    client = scripted("Dites bonjour :", "Puis dites au revoir.")
    r = translate(source, to="fr", model=client)
    assert r.text == f"Dites bonjour :\n\n{code}\nPuis dites au revoir."
    assert all("print(" not in prompt for prompt in chats(client))
    assert r.chunks == 2


def test_markdown_structure_kept():
    source = "# Title\n\nSome text.\n\n- one\n- two"
    r = translate(source, to="fr", model=scripted("# Titre\n\nDu texte.\n\n- un\n- deux"))
    assert r.text == "# Titre\n\nDu texte.\n\n- un\n- deux" and r.issues == []


def test_lost_markdown_structure_falls_back_to_blocks_with_kept_prefixes():
    source = "# Title\n\nSome text.\n\n- one\n- two"
    flat = "Titre\n\nDu texte.\n\nun\ndeux"  # heading and list markers lost, twice
    client = scripted(flat, flat, "Titre", "Du texte.", "un", "deux")
    r = translate(source, to="fr", model=client)
    assert r.text == "# Titre\n\nDu texte.\n\n- un\n- deux" and r.issues == []
    assert skeleton(r.text) == skeleton(source)
    block_prompts = chats(client)[2:]
    assert [text_of(p) for p in block_prompts] == ["Title", "Some text.", "one", "two"]
    assert "Before: Title" in block_prompts[1]  # neighbouring blocks as context


def test_glossary_asked_for_and_checked():
    glossary = {"pull request": "demande de tirage"}
    client = scripted("Ouvrez une pull request.", "Ouvrez une demande de tirage.")
    r = translate("Open a pull request.", to="fr", glossary=glossary, model=client)
    assert r.text == "Ouvrez une demande de tirage." and r.issues == []
    assert '"pull request" -> "demande de tirage"' in chats(client)[0]

    r = translate(
        "Open a pull request.", to="fr", glossary=glossary, model=scripted("Ouvrez une PR.", "Ouvrez une PR.")
    )
    assert r.issues and 'glossary term "pull request" is not translated as "demande de tirage"' in r.issues[0]


def test_untranslated_and_cut_off_replies_are_issues():
    source = "This sentence was never translated."
    r = translate(source, to="fr", model=scripted(source, source))
    assert "came back untranslated" in r.issues[0]
    cut = {"text": "Cette phrase", "finish_reason": "length"}
    r = translate(source, to="fr", model=scripted(cut, cut))
    assert "cut off" in r.issues[0]


def test_unknown_language_lists_the_closest_before_any_model_call():
    client = scripted()  # no answers: a model call would fail differently
    with pytest.raises(TaskError, match=r"unknown language code 'frr'; closest: fr \(French\)"):
        translate("Hello", to="frr", model=client)
    with pytest.raises(TaskError, match="unknown language code .englsh.; closest: en"):
        translate("Hello", to="fr", source="englsh", model=client)
    with pytest.raises(TaskError, match="both fr"):
        translate("Hello", to="fr", source="fra", model=client)
    assert client.backend.calls == []


@pytest.mark.parametrize("bad", ["", "   \n", b"bytes", None])
def test_empty_or_bad_input(bad):
    with pytest.raises(TaskError):
        translate(bad, to="fr", model=scripted())


def test_bad_glossary_and_options():
    with pytest.raises(TaskError, match="glossary must be a dict"):
        translate("Hi", glossary=["a"], model=scripted())
    with pytest.raises(TaskError, match="non-empty strings"):
        translate("Hi", glossary={"a": ""}, model=scripted())
    with pytest.raises(TaskError, match="unknown protect mode"):
        translate("Hi", protect="hide", model=scripted())


def test_long_text_is_chunked_by_the_window_with_context():
    paragraphs = [f"Paragraph {i} says %s and {{x{i}}} about topic number {i}." for i in range(8)]
    source = "\n\n".join(paragraphs)

    def french(messages, options):  # a model that "translates" by tagging each paragraph
        return "\n\n".join("FR " + p for p in text_of(messages[-1].text).split("\n\n"))

    client = llmkit.Client("mock", responses=french, context_window=200)
    r = translate(source, to="fr", model=client)
    assert r.chunks > 2 and r.issues == []
    assert r.text == "\n\n".join("FR " + p for p in paragraphs)
    prompts = chats(client)
    assert len(prompts) == r.chunks
    assert "After: Paragraph" in prompts[0] and "Before: " not in prompts[0]
    assert "Before: " in prompts[-1] and "After: " not in prompts[-1]
    for _kind, payload, options in client.backend.calls:  # every request fits the window
        assert client.count_tokens(payload) + options["max_tokens"] <= 200


def test_window_too_small_is_a_clear_error():
    with pytest.raises(TaskError, match="context window"):
        translate("Hello there.", to="fr", model=llmkit.Client("mock", responses=["x"], context_window=40))


def test_batch_keeps_order_and_per_item_errors():
    client = scripted("Bonjour.", ContextLengthError("too long"), "Au revoir.")
    out = translate_batch(["Hello.", "", "A very long text.", "Goodbye."], to="fr", model=client)
    assert [type(r).__name__ for r in out] == ["Translation", "TaskError", "ContextLengthError", "Translation"]
    assert out[0].text == "Bonjour." and out[3].text == "Au revoir."
    assert out[1].item == 1 and "empty" in str(out[1])
    with pytest.raises(TaskError, match="list of texts"):
        translate_batch("Hello", model=client)


def test_tiny_local_model_never_loses_a_placeholder_silently(tiny_hf):
    """A random model writes nonsense: each placeholder is in the text or in an issue."""
    sources = ["Hello %(name)s, see {0}.", "Click <b>here</b> to open `config.toml`."]
    for source, r in zip(sources, translate_batch(sources, to="de", model=tiny_hf), strict=True):
        assert isinstance(r, Translation) and r.chunks == 1
        for item in find_items(source):
            assert item in r.text or any(item in issue for issue in r.issues), (item, r)


def test_bundled_mini_small_window_every_request_fits():
    """mini (a code model, 255 tokens) cannot translate, but nothing overflows its
    window, retries included, and what it loses is reported."""
    source = "Hello %(name)s, see {0}."
    r = translate(source, to="fr", model=llmkit.Client("mini", threads=1))
    assert isinstance(r, Translation) and r.chunks == 1
    for item in find_items(source):
        assert item in r.text or any(item in issue for issue in r.issues)


# --- the command ---------------------------------------------------------------------


def run_cli(argv, monkeypatch, capsys, model):
    from llmkit.cli import translate as command

    monkeypatch.setattr(command, "task_client", lambda args: model)
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    code = command.run(p.parse_args(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_file_and_json(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("# Hello\n\nHello %(name)s!\n")
    code, out, err = run_cli([str(doc), "--to", "fr"], monkeypatch, capsys, scripted("# Bonjour\n\nBonjour [1] !"))
    assert (code, out, err) == (0, "# Bonjour\n\nBonjour %(name)s !\n\n", "")
    code, out, _ = run_cli([str(doc), "--to", "fr", "--from", "en", "--json"], monkeypatch, capsys,
                           scripted("# Bonjour\n\nBonjour [1] !"))  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["file"] == str(doc) and data["source"] == "en" and data["issues"] == []
    assert data["text"] == "# Bonjour\n\nBonjour %(name)s !\n"


def test_cli_issues_are_warnings_and_strict_fails(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "a.txt"
    doc.write_text("Hello %s")
    model = scripted("Bonjour", "Bonjour", "Bonjour")
    code, out, err = run_cli([str(doc), "--to", "fr"], monkeypatch, capsys, model)
    assert code == 0 and out == "Bonjour %s\n" and f"warning: {doc}: chunk 1 (Hello %s): the model kept losing" in err
    model = scripted("Bonjour", "Bonjour", "Bonjour")
    code, _, _ = run_cli([str(doc), "--to", "fr", "--strict"], monkeypatch, capsys, model)
    assert code == 3


def test_cli_several_files_one_failing(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.txt").write_text("Hello.")
    (tmp_path / "empty.txt").write_text("  \n")
    files = [str(tmp_path / "a.txt"), str(tmp_path / "empty.txt")]
    code, out, err = run_cli([*files, "--to", "de"], monkeypatch, capsys, scripted("Hallo."))
    assert code == 1 and out == f"==> {files[0]} <==\nHallo.\n" and f"error: {files[1]}: the text is empty" in err


def test_cli_stdin_and_glossary(tmp_path, monkeypatch, capsys):
    import io

    glossary = tmp_path / "g.json"
    glossary.write_text(json.dumps({"pull request": "demande de tirage"}))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Open a pull request.")))
    model = scripted("Ouvrez une demande de tirage.")
    code, out, _ = run_cli(["--to", "fr", "--glossary", str(glossary)], monkeypatch, capsys, model)
    assert code == 0 and out == "Ouvrez une demande de tirage.\n"
    assert "demande de tirage" in chats(model)[0]


def test_cli_usage_errors(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "g.json"
    bad.write_text('["not", "an", "object"]')
    with pytest.raises(UsageError, match="JSON object of strings"):
        run_cli(["x.txt", "--to", "fr", "--glossary", str(bad)], monkeypatch, capsys, scripted())
    bad.write_text("{oops")
    with pytest.raises(UsageError, match="not valid JSON"):
        run_cli(["x.txt", "--to", "fr", "--glossary", str(bad)], monkeypatch, capsys, scripted())
    with pytest.raises(TaskError, match="closest: fr"):
        run_cli(["x.txt", "--to", "fx"], monkeypatch, capsys, scripted())
    with pytest.raises(UsageError, match="cannot read"):
        run_cli([str(tmp_path / "missing.txt"), "--to", "fr"], monkeypatch, capsys, scripted())


# --- the example and SmolLM2 ---------------------------------------------------------


def test_example_runs_offline():
    r = subprocess.run([sys.executable, str(EXAMPLES / "tasks_translate.py")], capture_output=True, text=True,
                       timeout=120, env=os.environ.copy())  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Bonjour %(name)s" in r.stdout and "```python\nprint(greeting % name)\n```" in r.stdout
    assert "issues: none" in r.stdout and "retried: lost %(name)s" in r.stdout


@pytest.mark.slow
def test_smollm2_end_to_end(smollm2):
    sources = ["Hello %(name)s, you have {count} new messages.", "This field is required."]
    for source, r in zip(sources, translate_batch(sources, to="fr", source="en", model=smollm2), strict=True):
        assert isinstance(r, Translation) and r.text.strip() and r.text.strip() != source
        for item in find_items(source):  # kept, or reported: never silently lost
            assert item in r.text or any(item in issue for issue in r.issues), (item, r)


def test_demonstrations_are_earlier_turns_in_the_target_language():
    client = scripted("Hallo [1]!")
    translate("Hello %(name)s!", to="de", source="en", model=client)
    messages = client.backend.calls[0][1]
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0].text.endswith("\n\nHello [1], you have [2] new messages.")
    assert messages[1].text == "Hallo [1], Sie haben [2] neue Nachrichten."

    client = scripted("Hallo %(name)s!")  # sent as is: demos with real placeholders
    translate("Hello %(name)s!", to="de", model=client, protect="verify")
    assert client.backend.calls[0][1][1].text == "Hallo %(name)s, Sie haben {count} neue Nachrichten."


def test_no_demonstrations_for_other_languages_or_small_windows():
    client = scripted("Habari [1]!")
    translate("Hello %(name)s!", to="sw", model=client)
    assert [m.role for m in client.backend.calls[0][1]] == ["user"]
    client = llmkit.Client("mock", responses=["Bonjour [1] !"], context_window=300)
    translate("Hello %(name)s!", to="fr", model=client)
    assert [m.role for m in client.backend.calls[0][1]] == ["user"]


def test_a_list_item_that_keeps_losing_its_placeholder():
    flat = "Titre\n\nBonjour"
    client = scripted(flat, flat, "Titre", "Bonjour", "Bonjour", "Bonjour")
    r = translate("# Title\n\n- Hello %s", to="fr", model=client)
    assert r.text == "# Titre\n\n- Bonjour %s"  # the heading, the list marker and %s all kept
    assert len(r.issues) == 1 and "translated the words between them" in r.issues[0]


def test_evaluation_on_django_catalogs_with_a_copying_model():
    from llmkit.tasks.evals import translation as evaluation

    try:
        pairs = evaluation.django_pairs("fr")
    except UsageError as exc:  # offline without the cached wheel
        pytest.skip(str(exc))
    assert len(pairs) > 300 and all(src and ref for src, ref in pairs)
    assert ("This field is required.", "Ce champ est obligatoire.") in pairs

    def copy(messages, options):  # "translates" by copying its text back
        return text_of(messages[-1].text)

    report = evaluation.evaluate_translation(llmkit.Client("mock", responses=copy), to="fr", limit=12)
    assert report["n"] == 12 and report["n_with_placeholders"] == 6
    assert report["llmkit"]["placeholders_kept"] == 1.0 and report["llmkit"]["errors"] == 0
    assert 0 < report["llmkit"]["chrf"] < 100 and set(report["baseline"]) >= {"chrf", "placeholders_kept"}
    assert report["data"].startswith("django-") and report["copy_source"]["chrf"] == report["llmkit"]["chrf"]
    with pytest.raises(UsageError, match="Django has no"):
        evaluation.django_pairs("aa")
