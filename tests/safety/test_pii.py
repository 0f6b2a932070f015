"""PII boundaries and context: number shapes that are not PII stay as written, real PII at the edge of a
sentence is still masked."""

import pytest

from zaomo.safety.pii import find_pii, mask_pii


@pytest.mark.parametrize("text", [
    "Upgrade to version 4.7.2.1 before Friday.", "升级到 v4.7.2.1 后重启服务。", "当前版本 4.7.2.1，发布于周一。",
    "详见第 3.2.1.4 节。", "Section 1.2.3.4 covers retries.", "see 3.2.1.4 节的表格", "Requires 10.0.1.2 or later.",
    "The build 1.2.3.4.5 is broken.", "π ≈ 3.14159265358", "SKU13812345678X is out of stock.",
    "订单号 2023113812345678901 已发货", "0.13912345678 is the ratio", "编号 138123456789 不是手机",
    "scores: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "years 4111 1111 1111 1111 1111 in the log",
    "ids 1234-4111-1111-1111-1111", "assets/logo@2x.png", "icon@3x.webp and bundle@1.0.js",
    "256.10.1.1 is not an address", "01.02.03.04", "Pallet IDs 13812345678 through 13812345690 were loaded.",
    "订单号：13812345678", "Sample IDs: 5555 5555 5555 4444 were re-run.", "版本号：4.7.2.1",
    "目录：3 技术要求（3.1 一般要求，3.1.1.1 材料）", "图 3.2.1.1 展示了系统的整体架构", "从 3.1.4.2 升级至 3.2.0.0",
])
def test_number_shapes_that_are_not_pii(text):
    assert find_pii(text) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("服务器是 10.0.0.1.", "服务器是 [IP]."), ("It runs at 192.168.1.20.", "It runs at [IP]."),
    ("来自 10.0.0.1 的请求", "来自 [IP] 的请求"), ("手机 138 1234 5678。", "手机 [手机号]。"),
    ("电话13812345678,13912345678", "电话[手机号],[手机号]"), ("卡号4111111111111111，2024年开户", "卡号[银行卡号]，2024年开户"),
    ("card 4111-1111-1111-1111.", "card [银行卡号]."), ("mail wang@example.co.uk.", "mail [邮箱]."),
    ("身份证 11010519491231002X。", "身份证 [身份证号]。"), ("联系手机：13812345678", "联系手机：[手机号]"),
    ("服务器版本 2.3 部署在 10.0.0.5 上", "服务器版本 2.3 部署在 [IP] 上"),  # the version cue is spent on 2.3
    ("Android 10.0 on host 10.0.0.5", "Android 10.0 on host [IP]"),  # an address cue beats the outline rule
    ("DNS 8.8.8.8 和 1.1.1.1", "DNS [IP] 和 [IP]"),
])
def test_pii_at_sentence_edges_is_masked(text, expected):
    assert mask_pii(text)[0] == expected
