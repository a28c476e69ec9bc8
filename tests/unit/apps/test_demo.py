"""The Gradio Space, driven in a real headless Chromium (Debian's `chromium` + `chromium-driver`, via selenium).

The app runs in this process on 127.0.0.1 with a tiny untrained model saved to a temp folder and given through
``MOLTC_MODEL``, exactly as a Space would get it. Install the browser with
``apt-get install -y chromium chromium-driver``; without it the browser test is skipped with that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import zipfile
from pathlib import Path

import pytest
from huggingface_hub import metadata_load
from packaging.version import Version

from moltc_hf import build_model
from moltc_hf.cli.demo import load_app
from moltc_hf.hub import build_package_wheel, push_folder

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO_ROOT / "artifacts" / "demo_screenshot.png"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("demo_model")
    model, processor = build_model("tiny", seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def test_default_model_comes_from_env_then_quickstart(app, monkeypatch, tmp_path):
    monkeypatch.setenv("MOLTC_MODEL", "org/some-moltc")
    assert app.default_model() == "org/some-moltc"
    monkeypatch.delenv("MOLTC_MODEL")
    monkeypatch.chdir(tmp_path)
    quickstart = tmp_path / "runs" / "quickstart" / "model"
    found = app.default_model()
    assert (
        found is None or Path(found).parent.parent.parent == REPO_ROOT
    )  # only the repo's own quickstart run
    quickstart.mkdir(parents=True)
    (quickstart / "config.json").write_text("{}")
    assert app.default_model() == str(quickstart)


def test_without_a_model_the_page_says_how_to_get_one(app):
    status, answer, reasoning, confidence, image_a, image_b = app.predict(
        None, "O", "CCO", app.TASKS[2].label
    )
    assert "moltc quickstart" in status and "MOLTC_MODEL" in status and answer == ""
    assert reasoning.startswith("Molecule A (solvent): Molecular weight 18.02")
    assert image_a.size == image_b.size == (360, 260)


def test_invalid_smiles_is_a_message_not_an_exception(app):
    status, answer, *_, image_a, image_b = app.predict(None, "CCO", "C1CC(", app.TASKS[0].label)
    assert status.startswith("**Invalid SMILES.**") and "Molecule B (drug 2)" in status and "C1CC(" in status
    assert answer == "" and image_a is None and image_b is None


def test_a_task_the_model_cannot_answer_is_reported_in_the_page(app, tiny_model_dir):
    """The tiny model stores no DrugBank type sentences, so the pipeline refuses ddi_type: shown, not raised."""
    status, answer, reasoning, *_ = app.predict(
        app.Predictor(tiny_model_dir), "CCO", "CCN", app.TASKS[1].label
    )
    assert status.startswith("**The model could not answer:**") and "candidates" in status
    assert answer == "" and "Molecule A (drug 1)" in reasoning


def test_space_card_and_push_dry_run():
    space = REPO_ROOT / "spaces_demo"
    metadata = metadata_load(space / "README.md")
    assert metadata["sdk"] == "gradio" and metadata["app_file"] == "app.py"
    # The Space runs the gradio its card names (its requirements pin), one the package supports.
    pinned = re.search(r"^gradio==(\S+)$", (space / "requirements.txt").read_text(), re.MULTILINE).group(1)
    assert metadata["sdk_version"] == pinned
    floor = re.search(r'"gradio>=([\d.]+)"', (REPO_ROOT / "pyproject.toml").read_text()).group(1)
    assert Version(pinned) >= Version(floor)
    assert metadata["license"] and metadata["models"] and metadata["datasets"]
    result = push_folder(space, "someone/moltc-demo", repo_type="space", dry_run=True)
    assert {"app.py", "README.md", "requirements.txt"} <= set(result.files)
    wheels = [f for f in result.files if f.startswith("wheels/moltc_hf-") and f.endswith(".whl")]
    assert len(wheels) == 1 and not [f for f in result.files if "__pycache__" in f]


def test_space_wheel_installs_the_package(tmp_path):
    wheel = build_package_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert {"moltc_hf/pipeline.py", "moltc_hf/hub.py", "moltc_hf/modeling_moltc.py"} <= set(names)
    requirements = (REPO_ROOT / "spaces_demo" / "requirements.txt").read_text().splitlines()
    assert "--find-links ./wheels" in requirements and "moltc-hf[demo]" in requirements


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(
            f"no headless browser: install it with `apt-get install -y chromium chromium-driver` ({CHROMIUM})"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="moltc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,1500", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options), profile


@pytest.mark.browser
@pytest.mark.slow
def test_demo_in_headless_chromium(app, tiny_model_dir, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, profile = _browser()
    monkeypatch.setenv("MOLTC_MODEL", tiny_model_dir)
    port = _free_port()
    demo = app.launch(port=port, prevent_thread_lock=True, quiet=True)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(f"http://127.0.0.1:{port}/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#smiles-a textarea"))

        def ask(smiles_a: str, smiles_b: str, task_label: str) -> None:
            for box, smiles in (("#smiles-a textarea", smiles_a), ("#smiles-b textarea", smiles_b)):
                element = driver.find_element(By.CSS_SELECTOR, box)
                element.clear()
                element.send_keys(smiles)
            driver.find_element(By.XPATH, f"//*[@id='task']//label[contains(., '{task_label}')]").click()
            previous = text("status")
            driver.find_element(By.ID, "predict").click()
            wait.until(lambda d: text("status") not in ("", previous))

        def text(elem_id: str) -> str:  # rendered Markdown, whitespace normalised (code spans break lines)
            return " ".join(driver.find_element(By.ID, elem_id).text.split())

        def value(elem_id: str) -> str:
            return driver.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea").get_attribute("value")

        def images() -> list:
            found = driver.find_elements(By.CSS_SELECTOR, "#depiction-a img, #depiction-b img")
            return [
                img for img in found if driver.execute_script("return arguments[0].naturalWidth", img) > 0
            ]

        assert tiny_model_dir in text("model-info")

        # Drug pair, yes/no: the tiny model scores both answer sentences.
        ask("CC(=O)OC1=CC=CC=C1C(=O)O", "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O", app.TASKS[0].label)
        wait.until(lambda d: len(images()) == 2)
        assert "task: ddi_binary." in text("status")
        answer = value("answer")
        assert answer.startswith(("interaction", "no interaction")) and "drug-drug interaction" in answer
        assert value("confidence").endswith("%") and 50.0 <= float(value("confidence")[:-1]) <= 100.0
        assert "Molecule A (drug 1): Molecular weight 180.16" in value("reasoning")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000

        # Solvent / solute pair: generated answer; the reasoning names the roles.
        ask("O", "CCO", app.TASKS[2].label)
        wait.until(lambda d: "task: solvation." in text("status"))
        assert value("answer") != "" and "Molecule A (solvent)" in value("reasoning")
        assert "Molecule B (solute)" in value("reasoning") and len(images()) == 2

        # Invalid SMILES: a readable message in the page, no traceback.
        ask("O", "C1CC(", app.TASKS[2].label)
        status = text("status")
        assert "Invalid SMILES" in status and "Molecule B (solute)" in status and "C1CC(" in status
        assert "Traceback" not in driver.page_source and value("answer") == ""

        # Nothing the page loaded came from outside the local server (no fonts, analytics or CDN).
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(
            url.startswith((f"http://127.0.0.1:{port}/", "data:", "blob:")) for url in resources
        ), resources
    finally:
        driver.quit()
        demo.close()
        shutil.rmtree(profile, ignore_errors=True)
