"""`moltc push`: upload a model, dataset or Space folder to the Hugging Face Hub (`moltc_hf.hub.push_folder`)."""

from __future__ import annotations

import argparse

# `moltc push --help` answers without importing the hub module (huggingface_hub, torch): `moltc_hf.hub.REPO_TYPES`.
REPO_TYPES = ("model", "dataset", "space")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a saved model folder, a `moltc build-dataset` folder or spaces_demo/")
    parser.add_argument("--repo-id", required=True, help="user-or-org/name on the Hub")
    parser.add_argument("--repo-type", choices=REPO_TYPES, default="model")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the files and print the card; no network"
    )
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in one / HF_TOKEN)")
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        dest="datasets",
        help="hub id of a training dataset for the model card (repeatable)",
    )
    parser.add_argument("--base-model", default=None, help="hub id of the base LLM (sets the card's licence)")
    parser.add_argument("--license", default=None, help="override the card's licence id")
    parser.add_argument("--commit-message", default=None)


def run(args: argparse.Namespace) -> int:
    from ..hub import push_folder

    result = push_folder(
        args.folder,
        args.repo_id,
        repo_type=args.repo_type,
        private=args.private,
        token=args.token,
        dry_run=args.dry_run,
        commit_message=args.commit_message,
        datasets=args.datasets,
        base_model=args.base_model,
        license=args.license,
    )
    action = "would upload" if result.dry_run else "uploaded"
    print(f"{action} {len(result.files)} files to {result.repo_type} repo {result.repo_id}:")
    for name in result.files:
        print(f"  {name}")
    for note in result.notes:
        print(f"note: {note}")
    if result.dry_run and result.card:
        print("\n----- README.md (card) -----\n" + result.card)
    if result.url:
        print(f"done: {result.url}")
    return 0
