"""A small fictional organisation as a knowledge graph (28 entities, zh and en names), written as CSV and as
Turtle by the tests; LABELS labels its predicates in zaomo.yaml."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from zaomo.workspace import Workspace

DEPTS = {"rd": ("研发部", "R&D Department", "p01", "bj"), "sales": ("销售部", "Sales Department", "p04", "sh"),
         "hr": ("人力资源部", "Human Resources Department", "p07", "bj"),
         "finance": ("财务部", "Finance Department", "p09", "sz"), "ops": ("运维部", "Operations Department", "p11", "sz")}
OFFICES = {"bj": ("北京总部", "Beijing Headquarters", "北京", "Beijing"), "sh": ("上海办公室", "Shanghai Office", "上海", "Shanghai"),
           "sz": ("深圳办公室", "Shenzhen Office", "深圳", "Shenzhen")}
PEOPLE = {"p01": ("王芳", "Wang Fang", "rd", "总监", "director"), "p02": ("李强", "Li Qiang", "rd", "工程师", "engineer"),
          "p03": ("张伟", "Zhang Wei", "rd", "工程师", "engineer"), "p04": ("刘洋", "Liu Yang", "sales", "经理", "manager"),
          "p05": ("陈静", "Chen Jing", "sales", "销售代表", "sales representative"),
          "p06": ("杨磊", "Yang Lei", "sales", "销售代表", "sales representative"),
          "p07": ("赵敏", "Zhao Min", "hr", "经理", "manager"), "p08": ("黄涛", "Huang Tao", "hr", "专员", "specialist"),
          "p09": ("周婷", "Zhou Ting", "finance", "会计师", "accountant"), "p10": ("吴斌", "Wu Bin", "finance", "出纳", "cashier"),
          "p11": ("徐丽", "Xu Li", "ops", "主管", "supervisor"), "p12": ("孙浩", "Sun Hao", "ops", "工程师", "engineer")}
PRODUCTS = {"galaxy": ("星河路由器", "Galaxy Router", "¥1299", "rd", "2021"),
            "comet": ("彗星交换机", "Comet Switch", "¥899", "rd", "2020"),
            "aurora": ("极光相机", "Aurora Camera", "¥2499", "rd", "2022"),
            "nova": ("新星音箱", "Nova Speaker", "¥599", "sales", "2023"),
            "meteor": ("流星手表", "Meteor Watch", "¥1599", "rd", "2022"),
            "pulsar": ("脉冲平板", "Pulsar Tablet", "¥3299", "ops", "2019"),
            "orbit": ("轨道无人机", "Orbit Drone", "¥4999", "rd", "2024"),
            "zenith": ("天顶台灯", "Zenith Lamp", "¥199", "sales", "2018")}
LABELS = ("kg.predicates={works_in: {zh: 所在部门, en: department}, title: {zh: 职位, en: job title}, "
          "manager: {zh: 负责人, en: manager}, located_in: {zh: 办公地点, en: office}, city: {zh: 城市, en: city}, "
          "price: {zh: 价格, en: price}, team: {zh: 负责团队, en: team}, launch_year: {zh: 发布年份, en: launch year}}")


def rows() -> list[tuple[str, str, str, str]]:
    """(subject, predicate, object, lang) of the whole graph."""
    out = []
    for k, (zh, en, mgr, office) in DEPTS.items():
        out += [(k, "name", zh, "zh"), (k, "name", en, "en"), (k, "manager", mgr, ""), (k, "located_in", office, "")]
    for k, (zh, en, czh, cen) in OFFICES.items():
        out += [(k, "name", zh, "zh"), (k, "name", en, "en"), (k, "city", czh, "zh"), (k, "city", cen, "en")]
    for k, (zh, en, dept, tzh, ten) in PEOPLE.items():
        out += [(k, "name", zh, "zh"), (k, "name", en, "en"), (k, "works_in", dept, "")]
        if k != "p12":  # a gap: the graph has no job title for Sun Hao
            out += [(k, "title", tzh, "zh"), (k, "title", ten, "en")]
    for k, (zh, en, price, team, year) in PRODUCTS.items():
        out += [(k, "name", zh, "zh"), (k, "name", en, "en"), (k, "price", price, ""), (k, "team", team, "")]
        if k != "zenith":  # a gap: no launch year for Zenith Lamp
            out.append((k, "launch_year", year, ""))
    return out


def write_csv(path: Path, data=None, header=("subject", "predicate", "object", "lang")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(data or rows())
    return path


def write_ttl(path: Path, data=None) -> Path:
    """The same graph in Turtle: names as rdfs:label with language tags, entities as IRIs."""
    entities = {s for s, *_ in (data or rows())}
    lines = ["@prefix ex: <http://example.org/org#> .", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .", ""]
    for s, p, o, lang in data or rows():
        pred = "rdfs:label" if p == "name" else f"ex:{p}"
        obj = f"ex:{o}" if o in entities else '"' + o + '"' + (f"@{lang}" if lang else "")
        lines.append(f"ex:{s} {pred} {obj} .")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(name="kg_ws")
def kg_ws_fixture(tmp_path) -> Workspace:
    """A workspace whose zaomo.yaml labels the test graph's predicates (imported by the tests that use it: a
    conftest.py here would shadow tests/conftest.py for `from conftest import …` elsewhere)."""
    root = Workspace.init(tmp_path / "ws").root
    return Workspace.open(root, overrides=[LABELS, "kb.sources=[]"])
