"""The embedded demo corpus: a bilingual handbook of a fictional company, with planted noise.

Everything is generated from a seed, so the quickstart needs no download and is reproducible byte for
byte. Facts are short and distinctive (names, floors, extension numbers, years) so that a tiny model can
learn some of them in minutes, and the held-out questions can be scored by whether the answer appears.
Some attribute types are taught in the SFT pairs (closed-book answerable); others appear only in the
handbook, so only the knowledge base can answer them.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..safety.policy_set import load_policy_set
from ..utils.io import atomic_open, atomic_write_json, atomic_write_text, write_jsonl

ORG_ZH, ORG_EN = "星河云图科技", "Xinghe Yuntu Tech"
SURNAMES = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("赵", "Zhao"), ("黄", "Huang"), ("周", "Zhou"), ("吴", "Wu"), ("徐", "Xu"), ("孙", "Sun"),
            ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin")]
GIVEN = [("建国", "Jianguo"), ("晓燕", "Xiaoyan"), ("志强", "Zhiqiang"), ("丽华", "Lihua"), ("海涛", "Haitao"),
         ("静怡", "Jingyi"), ("文博", "Wenbo"), ("雨桐", "Yutong"), ("子轩", "Zixuan"), ("思远", "Siyuan"),
         ("明辉", "Minghui"), ("佳琪", "Jiaqi"), ("国栋", "Guodong"), ("欣然", "Xinran"), ("浩然", "Haoran"),
         ("梦洁", "Mengjie"), ("立新", "Lixin"), ("春生", "Chunsheng")]
DEPARTMENTS = [("研发部", "R&D Department"), ("市场部", "Marketing Department"), ("财务部", "Finance Department"),
               ("人事部", "HR Department"), ("法务部", "Legal Department"), ("销售部", "Sales Department"),
               ("客服部", "Customer Service Department"), ("采购部", "Procurement Department"),
               ("运维部", "Operations Department"), ("设计部", "Design Department"),
               ("数据部", "Data Department"), ("安全部", "Security Department")]
PRODUCTS = [("云图地图", "Yuntu Maps"), ("星河网盘", "Xinghe Drive"), ("云图翻译", "Yuntu Translate"),
            ("星河会议", "Xinghe Meet"), ("云图笔记", "Yuntu Notes"), ("星河邮箱", "Xinghe Mail"),
            ("云图相册", "Yuntu Photos"), ("星河日历", "Xinghe Calendar")]
CITIES = [("北京", "Beijing"), ("上海", "Shanghai"), ("深圳", "Shenzhen"), ("成都", "Chengdu"),
          ("杭州", "Hangzhou"), ("武汉", "Wuhan")]
CODENAMES = ["青鸟", "白鹭", "赤狐", "灰鲸", "金雀", "银杏", "紫藤", "玄武", "朱雀", "麒麟"]
CODENAMES_EN = ["Bluebird", "Egret", "Red Fox", "Grey Whale", "Goldfinch", "Ginkgo", "Wisteria", "Xuanwu",
                "Suzaku", "Qilin"]

# Attribute types taught by SFT (closed-book answerable) and those only in the handbook (open-book only).
SFT_ATTRS = {"head", "floor", "lead", "manager"}
KB_ONLY_ATTRS = {"extension", "headcount", "codename", "opened"}

REFUSAL_ZH = "抱歉，这个请求我无法协助。"
REFUSAL_EN = "Sorry, I can't help with that request."


@dataclass
class Fact:
    entity: str
    entity_en: str
    attr: str
    value: str
    value_en: str
    docs: list[str]


@dataclass
class DemoManifest:
    seed: int
    root: str
    files: dict[str, int] = field(default_factory=dict)  # relative path → records or 1
    noise: dict[str, int] = field(default_factory=dict)  # planted noise kind → count
    counts: dict[str, int] = field(default_factory=dict)
    facts: list[dict] = field(default_factory=list)


def _people(rng: random.Random, n: int) -> list[tuple[str, str]]:
    pairs = [(s[0] + g[0], f"{s[1]} {g[1]}") for s in SURNAMES for g in GIVEN]
    rng.shuffle(pairs)
    return pairs[:n]


def facts(seed: int = 0) -> list[Fact]:
    """The fact table the handbook states and the questions ask about."""
    rng = random.Random(seed)
    people = iter(_people(rng, 40))
    out: list[Fact] = []
    floors = rng.sample(range(2, 30), len(DEPARTMENTS))
    exts = rng.sample(range(8001, 8999), len(DEPARTMENTS))
    heads = rng.sample(range(12, 180), len(DEPARTMENTS))
    for (zh, en), fl, ext, hc in zip(DEPARTMENTS, floors, exts, heads):
        p = next(people)
        out += [Fact(zh, en, "head", p[0], p[1], ["zh/departments.md", "en/departments.md", "zh/people.md"]),
                Fact(zh, en, "floor", f"{fl}楼", f"floor {fl}", ["zh/departments.md", "en/departments.md"]),
                Fact(zh, en, "extension", str(ext), str(ext), ["zh/departments.md", "en/departments.md"]),
                Fact(zh, en, "headcount", f"{hc}名", f"{hc} employees", ["zh/departments.md", "en/departments.md"])]
    years = rng.sample(range(2012, 2025), len(PRODUCTS))
    codes = rng.sample(range(len(CODENAMES)), len(PRODUCTS))
    for (zh, en), yr, ci in zip(PRODUCTS, years, codes):
        p = next(people)
        out += [Fact(zh, en, "lead", p[0], p[1], ["zh/products.md", "en/products.md", "zh/people.md"]),
                Fact(zh, en, "codename", CODENAMES[ci], CODENAMES_EN[ci], ["zh/products.md", "en/products.md"]),
                Fact(zh, en, "launch", f"{yr}年", str(yr), ["zh/products.md", "en/products.md"])]
    opened = rng.sample(range(2010, 2024), len(CITIES))
    for (zh, en), yr in zip(CITIES, opened):
        p = next(people)
        out += [Fact(zh + "办公室", en + " office", "manager", p[0], p[1], ["zh/offices.md", "en/offices.md"]),
                Fact(zh + "办公室", en + " office", "opened", f"{yr}年", str(yr), ["zh/offices.md", "en/offices.md"])]
    return out


def _by(fs: list[Fact]) -> dict[tuple[str, str], Fact]:
    return {(f.entity, f.attr): f for f in fs}


# Sentences stating a fact, in two phrasings each (knowledge augmentation for the tiny model).
ZH_STATE = {
    "head": ["{e}的负责人是{v}。", "{v}负责{e}的日常管理工作。"],
    "floor": ["{e}位于总部大楼{v}。", "要去{e}，请到总部大楼{v}。"],
    "extension": ["{e}的分机号是{v}。", "拨打分机{v}可以联系{e}。"],
    "headcount": ["{e}共有{v}员工。", "目前{e}有{v}员工。"],
    "lead": ["{e}的产品负责人是{v}。", "{v}带领团队负责{e}。"],
    "codename": ["{e}的内部代号是{v}。", "在公司内部，{e}被称为{v}。"],
    "launch": ["{e}于{v}发布。", "{e}的发布时间是{v}。"],
    "manager": ["{e}的主管是{v}。", "{v}担任{e}的主管。"],
    "opened": ["{e}成立于{v}。", "{e}是{v}设立的。"],
}
EN_STATE = {
    "head": ["The head of the {e} is {v}.", "{v} runs the {e}."],
    "floor": ["The {e} is on {v} of the headquarters.", "You can find the {e} on {v}."],
    "extension": ["The phone extension of the {e} is {v}.", "Call extension {v} to reach the {e}."],
    "headcount": ["The {e} has {v}.", "There are {v} in the {e}."],
    "lead": ["The product lead of {e} is {v}.", "{v} leads the {e} team."],
    "codename": ["The internal codename of {e} is {v}.", "Inside the company, {e} is called {v}."],
    "launch": ["{e} was launched in {v}.", "{e} launched in {v}."],
    "manager": ["The manager of the {e} is {v}.", "{v} manages the {e}."],
    "opened": ["The {e} opened in {v}.", "The {e} was set up in {v}."],
}
# Questions: T1 teaches (SFT), T2 is held out (paraphrases), answered by the same facts.
ZH_Q1 = {"head": "{e}的负责人是谁？", "floor": "{e}在几楼？", "lead": "{e}的产品负责人是谁？",
         "manager": "{e}的主管是谁？", "launch": "{e}是哪一年发布的？"}
ZH_Q2 = {"head": "请问谁负责{e}？", "floor": "请问{e}位于总部大楼几楼？", "lead": "请问谁带领{e}团队？",
         "manager": "请问谁担任{e}的主管？", "extension": "{e}的分机号是多少？", "headcount": "{e}有多少员工？",
         "codename": "{e}的内部代号是什么？", "opened": "{e}是哪一年成立的？", "launch": "请问{e}的发布时间是哪一年？"}
EN_Q1 = {"head": "Who is the head of the {e}?", "floor": "Which floor is the {e} on?",
         "lead": "Who is the product lead of {e}?", "manager": "Who is the manager of the {e}?"}
EN_Q2 = {"head": "Who runs the {e}?", "floor": "On which floor can I find the {e}?",
         "lead": "Who leads the {e} team?", "manager": "Who manages the {e}?",
         "extension": "What is the phone extension of the {e}?", "codename": "What is the internal codename of {e}?",
         "opened": "When did the {e} open?"}
ZH_A = {"head": "{e}的负责人是{v}。", "floor": "{e}位于总部大楼{v}。", "lead": "{e}的产品负责人是{v}。",
        "manager": "{e}的主管是{v}。", "launch": "{e}于{v}发布。", "extension": "{e}的分机号是{v}。",
        "headcount": "{e}共有{v}员工。", "codename": "{e}的内部代号是{v}。", "opened": "{e}成立于{v}。"}
# Reading-comprehension questions for the attribute types only the handbook states: used with retrieved
# passages (open-book SFT) for half of the entities; the other half is held out.
ZH_Q_READ = {"extension": "请告诉我{e}的分机号。", "headcount": "{e}的员工人数是多少？",
             "codename": "请告诉我{e}的内部代号。", "opened": "{e}成立于哪一年？"}
EN_Q_READ = {"extension": "Tell me the phone extension of the {e}.", "codename": "Tell me the codename of {e}.",
             "opened": "In which year did the {e} open?"}
EN_A_READ = {"extension": "The phone extension of the {e} is {v}.", "codename": "The internal codename of {e} is {v}.",
             "opened": "The {e} opened in {v}."}
HELPFUL = [("怎样写一份工作周报？", "工作周报可以分为三部分：本周完成的工作、遇到的问题和下周计划。"),
           ("如何提高开会的效率？", "会前明确议题和时间，会中记录结论，会后跟进待办事项。"),
           ("电脑很卡怎么办？", "可以先关闭不用的程序，再重启电脑；如果仍然很慢，请联系运维部。"),
           ("怎样保持办公桌整洁？", "每天下班前整理桌面，把文件归档，把不用的物品收进抽屉。"),
           ("推荐一种放松的方法。", "可以每工作一小时起身走动五分钟，做几次深呼吸。"),
           ("How do I write a good email subject?", "Keep it short and specific, and put the action or date first."),
           ("How can I focus better at work?", "Block time for deep work, silence notifications and take short breaks."),
           ("My laptop is slow. What should I do?", "Close unused programs and restart; if it stays slow, contact IT."),
           ("How do I prepare for a meeting?", "Read the agenda, note your questions and bring the numbers you need."),
           ("Suggest a way to relax.", "Take a short walk every hour and breathe deeply a few times.")]
# Benign requests that share words with harmful ones ("kill", "shoot", knives, hacking as defence): the model
# learns to help with these as well as to refuse, so refusal is not its default for anything unfamiliar. None of
# them is a prompt of the safety evaluation sets.
NEAR_MISS = [
    ("电脑上有个程序没有响应，怎么强制关闭它？", "在 Windows 上按 Ctrl+Shift+Esc 打开任务管理器，选中该程序后点“结束任务”；在 Linux 上可以用 kill 命令加进程号。"),
    ("Linux 里怎么杀掉占用端口的进程？", "先用 lsof -i :端口号 查出进程号，再执行 kill 进程号；不行再用 kill -9。"),
    ("切菜时怎样握刀才不容易切到手？", "一只手握紧刀柄，另一只手手指弯曲成爪状按住食材，让指关节抵着刀面慢慢切。"),
    ("菜刀钝了怎么磨？", "把磨刀石打湿，刀面与石面保持约十五度，来回均匀推磨，两面交替，最后用清水冲净擦干。"),
    ("夜景拍照怎么拍才清楚？", "用三脚架稳住相机，降低感光度，延长曝光时间，并用定时快门避免抖动。"),
    ("拍人像时怎样让背景虚化？", "用大光圈和较长焦距，让人物离背景远一些，相机靠近人物拍摄。"),
    ("怎样识别一封邮件是不是钓鱼邮件？", "检查发件人地址是否可疑、链接指向的网址是否和显示的一致，不要在邮件链接里输入密码，拿不准就联系运维部。"),
    ("公司的电脑怎样防止被黑客入侵？", "及时安装系统更新，使用强密码并开启两步验证，不要安装来历不明的软件。"),
    ("烟花爆竹燃放时要注意什么？", "在空旷处燃放，点燃后迅速离开，不要手持燃放，哑炮不要靠近查看。"),
    ("厨房着火了应该怎么办？", "油锅起火时盖上锅盖并关火，不要用水浇；火势变大立即离开并拨打119。"),
    ("红烧肉怎么做？", "五花肉切块焯水，炒糖色后放肉翻炒，加酱油、料酒和热水，小火炖一小时后收汁。"),
    ("怎么把一个大文件切分成几个小文件？", "在 Linux 上可以用 split 命令，例如 split -b 100M 文件名；也可以用压缩软件分卷压缩。"),
    ("如何干掉代码里的重复逻辑？", "把重复的部分提取成一个函数或类，在原来的地方调用它，再用测试确认行为不变。"),
    ("药品过期了应该怎么处理？", "不要随意丢弃，可以交到药店或社区的过期药品回收点。"),
    ("怎样破解数独难题？", "先找只剩一个候选数的格子，再用排除法看每行、每列和每宫里某个数字只能放在哪里。"),
    ("如何攻克拖延症？", "把任务拆成很小的步骤，给每一步定一个短时间，先完成第一步。"),
    ("How do I kill a stuck process on Linux?", "Find its process ID with ps or top, then run kill PID; if it still hangs, use kill -9 PID."),
    ("How do I force quit a frozen app on a Mac?", "Press Option+Command+Esc, choose the app and click Force Quit."),
    ("What is the safest way to chop onions with a big knife?", "Curl the fingers of your holding hand, keep the knife tip on the board and rock the blade slowly."),
    ("How do I sharpen a kitchen knife?", "Wet a whetstone, hold the blade at about fifteen degrees and stroke evenly on both sides, then rinse and dry it."),
    ("How do I shoot photos of fireworks?", "Use a tripod, a low ISO, an aperture around f/8 and exposures of a few seconds."),
    ("Tips to shoot a portrait with a blurry background?", "Use a wide aperture and a longer lens, and keep your subject far from the background."),
    ("How can I tell if an email is a phishing attempt?", "Check the sender's address, hover over links to see where they really go, and never type a password from an email link."),
    ("How do I protect my laptop from hackers?", "Install updates, use a strong password with two-factor login, and avoid software from unknown sources."),
    ("What should I do if a pan of oil catches fire?", "Turn off the heat and cover the pan with a lid; never pour water on it."),
    ("How do I execute a shell script?", "Make it executable with chmod +x script.sh, then run ./script.sh."),
    ("How do I terminate a loop early in Python?", "Use break inside the loop; use continue to skip to the next round."),
    ("How do I crack an egg without getting shell in the bowl?", "Tap the egg on a flat surface, not the bowl's edge, and open it with both thumbs."),
    ("How should I dispose of old medicine?", "Take it to a pharmacy or a drug take-back point instead of the bin."),
    ("How do I beat procrastination?", "Split the task into tiny steps, set a short timer and start with the first one."),
    ("What's a good way to attack a hard math problem?", "Try small cases first, draw a picture, and look for a pattern you can prove."),
    ("How do I blow up a photo without losing quality?", "Start from the largest original and use an image editor's enlarge option with a detail-preserving method."),
]
EN_A = {"head": "The head of the {e} is {v}.", "floor": "The {e} is on {v}.",
        "lead": "The product lead of {e} is {v}.", "manager": "The manager of the {e} is {v}."}


def _handbook(fs: list[Fact]) -> dict[str, str]:
    docs: dict[str, list[str]] = {}
    topics = {"head": "departments", "floor": "departments", "extension": "departments", "headcount": "departments",
              "lead": "products", "codename": "products", "launch": "products",
              "manager": "offices", "opened": "offices"}
    titles_zh = {"departments": "部门介绍", "products": "产品介绍", "offices": "办公地点"}
    titles_en = {"departments": "Departments", "products": "Products", "offices": "Offices"}
    sections_zh: dict[str, dict[str, list[str]]] = {}
    sections_en: dict[str, dict[str, list[str]]] = {}
    for f in fs:
        t = topics[f.attr]
        sections_zh.setdefault(t, {}).setdefault(f.entity, []).append(ZH_STATE[f.attr][0].format(e=f.entity, v=f.value))
        sections_en.setdefault(t, {}).setdefault(f.entity_en, []).append(
            EN_STATE[f.attr][0].format(e=f.entity_en, v=f.value_en))
    for t, ents in sections_zh.items():
        lines = [f"# {ORG_ZH}员工手册：{titles_zh[t]}", ""]
        for e, sents in ents.items():
            lines += [f"## {e}", "", "".join(sents), ""]
        docs[f"zh/{t}.md"] = lines
    for t, ents in sections_en.items():
        lines = [f"# {ORG_EN} Employee Handbook: {titles_en[t]}", ""]
        for e, sents in ents.items():
            lines += [f"## {e}", "", " ".join(sents), ""]
        docs[f"en/{t}.md"] = lines
    # Second phrasings, gathered by person and by topic, so each fact is stated twice per language.
    people_zh = [f"# {ORG_ZH}员工手册：人员与职责", ""]
    people_en = [f"# {ORG_EN} Employee Handbook: People and roles", ""]
    for f in fs:
        if f.attr in ("head", "lead", "manager"):
            people_zh.append(ZH_STATE[f.attr][1].format(e=f.entity, v=f.value))
            people_en.append(EN_STATE[f.attr][1].format(e=f.entity_en, v=f.value_en))
    docs["zh/people.md"] = people_zh
    docs["en/people.md"] = people_en
    guide_zh = [f"# {ORG_ZH}员工手册：办事指南", ""]
    guide_en = [f"# {ORG_EN} Employee Handbook: Getting things done", ""]
    for f in fs:
        if f.attr not in ("head", "lead", "manager"):
            guide_zh.append(ZH_STATE[f.attr][1].format(e=f.entity, v=f.value))
            guide_en.append(EN_STATE[f.attr][1].format(e=f.entity_en, v=f.value_en))
    docs["zh/guide.md"] = [*guide_zh[:2], *["".join(guide_zh[i:i + 4]) + "\n" for i in range(2, len(guide_zh), 4)]]
    docs["en/guide.md"] = [*guide_en[:2], *[" ".join(guide_en[i:i + 4]) + "\n" for i in range(2, len(guide_en), 4)]]
    policies_zh = [f"# {ORG_ZH}员工手册：制度", "",
                   "员工每年享有带薪年假，入职满一年后开始计算。加班需要提前在系统中申请。",
                   "",
                   "差旅报销需要在出差结束后三十天内提交，并附上发票。公司鼓励员工使用公共交通工具。",
                   "",
                   "新员工入职第一周会参加培训，了解公司文化、信息安全和各部门的职责。"]
    policies_en = [f"# {ORG_EN} Employee Handbook: Policies", "",
                   "Employees get paid annual leave after their first year. Overtime must be requested in advance.",
                   "",
                   "Travel expenses must be claimed within thirty days with receipts. Public transport is encouraged.",
                   "",
                   "New employees attend a training week on company culture, information security and departments."]
    docs["zh/policies.md"] = policies_zh
    docs["en/policies.md"] = policies_en
    for d in fs:
        if d.attr in ("head", "lead", "manager"):
            d.docs = sorted(set(d.docs) | {"zh/people.md", "en/people.md"})
        else:
            d.docs = sorted(set(d.docs) | {"zh/guide.md", "en/guide.md"})
    return {k: "\n".join(v).strip() + "\n" for k, v in docs.items()}


def _msgs(q: str, a: str, system: str | None = None) -> list[dict]:
    m = [{"role": "system", "content": system}] if system else []
    return m + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


# The built-in safety set lives with the policy (zaomo.safety.policy_set). The demo draws its refusal examples
# and preference pairs from its train split only, so the test split that eval scores stays unseen.
ADVERSARIAL = [(it["category"], it["lang"], it["prompt"]) for it in load_policy_set("train", "refuse")]
BENIGN = [(it["lang"], it["prompt"]) for it in load_policy_set("train", "answer")]
CHITCHAT = [("你好", f"你好！我是{ORG_ZH}的助手，有什么可以帮你？"), ("谢谢", "不客气！"),
            ("你是谁？", f"我是{ORG_ZH}的员工助手，可以回答关于公司部门、产品和办公地点的问题。"),
            ("Hello", f"Hello! I am the {ORG_EN} assistant. How can I help?"), ("Thanks", "You're welcome!"),
            ("Who are you?", f"I am the {ORG_EN} employee assistant. Ask me about departments, products and offices.")]


def _idcard(rng: random.Random) -> str:
    """A random 18-digit Chinese resident ID number with a valid GB 11643 check digit."""
    body = f"{rng.choice([110101, 310104, 440305, 510104])}{rng.randint(1960, 2003)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    return body + check


def _mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def _near_dup(text: str, rng: random.Random, rate: float = 0.03) -> str:
    chars = list(text)
    for i in rng.sample(range(len(chars)), max(1, int(len(chars) * rate))):
        if chars[i] not in "\n#":
            chars[i] = rng.choice("的了是在有和与及")
    return "".join(chars)


def write_demo(root: str | Path, seed: int = 0, refusals: bool = True) -> DemoManifest:
    """Write the demo corpus and evaluation sets into a workspace; returns what was planted where. With
    `refusals`, the SFT data also teaches the model to refuse half of the adversarial prompts."""
    root = Path(root)
    rng = random.Random(seed + 1)
    fs = facts(seed)
    man = DemoManifest(seed=seed, root=str(root))
    raw = root / "data" / "raw"
    handbook = _handbook(fs)
    for rel, text in handbook.items():
        atomic_write_text(raw / "handbook" / rel, text)
        man.files[f"data/raw/handbook/{rel}"] = 1
    noise = man.noise

    # Exact duplicates: whole handbook pages copied into a "mirror" folder.
    for rel in ("zh/departments.md", "en/products.md"):
        atomic_write_text(raw / "mirror" / rel.replace("/", "_"), handbook[rel])
        noise["exact_duplicate"] = noise.get("exact_duplicate", 0) + 1
    # Near duplicates: a page with ~3% of characters edited.
    atomic_write_text(raw / "mirror" / "offices_old.md", _near_dup(handbook["zh/offices.md"], rng))
    noise["near_duplicate"] = 1
    # HTML pages whose article is real text: kept after extraction; nav, script and footer go.
    article = handbook["zh/policies.md"].split("\n", 2)[2]
    html_page = (f"<html><head><title>{ORG_ZH} 制度</title><style>body{{color:#333}}</style>"
                 "<script>var tracker = function(){ return 'ad'; };</script></head><body>"
                 "<nav><a href='/'>首页</a> | <a href='/about'>关于我们</a> | <a href='/jobs'>加入我们</a></nav>"
                 f"<article><h1>员工制度</h1>{''.join(f'<p>{p}</p>' for p in article.split(chr(10)) if p)}</article>"
                 "<footer>© 2024 版权所有 | 京ICP备00000000号</footer></body></html>")
    atomic_write_text(raw / "web" / "policies.html", html_page)
    noise["html_page"] = 1
    # Mojibake: UTF-8 bytes read as Latin-1 (ftfy repairs it).
    atomic_write_text(raw / "web" / "history_mojibake.txt",
                      _mojibake(f"{ORG_ZH}成立于2010年，总部位于北京。公司致力于让每个人都能方便地使用地图、翻译和办公软件。"
                                "公司的价值观是诚信、协作和创新。"))
    noise["mojibake"] = 1
    # Wrong encodings: GBK and Big5 files of real text.
    gbk_text = (f"{ORG_ZH}的使命是用技术连接人与信息。公司重视员工的成长，每年组织技术分享会和团队建设活动。"
                "公司的会议室可以通过内部系统预约，预约后请准时使用。")
    (raw / "legacy").mkdir(parents=True, exist_ok=True)
    with atomic_open(raw / "legacy" / "mission_gbk.txt", "wb") as f:
        f.write(gbk_text.encode("gbk"))
    with atomic_open(raw / "legacy" / "values_big5.txt", "wb") as f:
        f.write("星河雲圖科技重視誠信與協作，鼓勵員工持續學習，並為客戶提供可靠的服務。員工餐廳每天中午開放。".encode("big5"))
    noise["wrong_encoding"] = 2
    # A JSONL dump: good records, PII, sensitive words, ads, a repeated page, a short fragment, a bad line.
    pii_people = _people(random.Random(seed + 7), 3)
    dump = [
        {"id": "dump-1", "text": f"{ORG_ZH}每年春天举办开放日，欢迎员工家属参观总部大楼，了解各部门的工作。"},
        {"id": "dump-2", "text": f"联系人{pii_people[0][0]}，手机号码13{rng.randint(100000000, 999999999)}，"
                                 f"身份证号{_idcard(rng)}，邮箱 {pii_people[0][1].split()[0].lower()}@example.com。"
                                 f"如需报名开放日活动，请在工作时间联系行政人员。"},
        {"id": "dump-3", "text": f"员工{pii_people[1][0]}的身份证号码是{_idcard(rng)}，手机15{rng.randint(100000000, 999999999)}，"
                                 "请人事部在系统中更新资料后删除这条记录。"},
        {"id": "dump-4", "text": "论坛转帖：教你制造炸弹的方法，还有毒品交易的渠道，私聊获取详细资料，保证安全可靠。"},
        {"id": "dump-5", "text": "赌博网站最新地址，注册就送现金，每天都能提现，快来试试手气，名额有限先到先得。"},
        {"id": "dump-6", "text": "限时优惠！！！加微信 xh888 点击领取大礼包，代开发票，全网最低价，点击链接立即购买！！！"},
        {"id": "dump-7", "text": "BUY NOW!!! Best price cheap watches, click here http://spam.example/buy now now now!!! "
                                 "Limited offer, act now, free shipping!!!"},
        {"id": "dump-8", "text": "欢迎访问本站。\n" * 40},
        {"id": "dump-9", "text": "页面加载中"},
    ]
    (raw / "dumps").mkdir(parents=True, exist_ok=True)
    with atomic_open(raw / "dumps" / "forum.jsonl", "w") as f:
        for r in dump:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write('{"id": "dump-10", "text": "这一行被截断了\n')
    noise.update({"pii_record": 2, "sensitive_record": 2, "ad_record": 2, "repetitive_record": 1,
                  "short_record": 1, "invalid_json_line": 1})
    # Empty and binary files.
    atomic_write_text(raw / "misc" / "empty.txt", "")
    with atomic_open(raw / "misc" / "blob.txt", "wb") as f:
        blob_rng = random.Random(seed)
        f.write(bytes(blob_rng.randrange(256) for _ in range(2048)))
    noise.update({"empty_file": 1, "binary_file": 1})
    # A docx page of real text (python-docx is a core dependency).
    try:
        import docx

        d = docx.Document()
        d.add_heading("安全须知", 1)
        d.add_paragraph("所有员工必须佩戴工牌进入办公区域。访客需要在前台登记，并由员工陪同。"
                        "离开座位时请锁定电脑屏幕，保护公司的信息安全。")
        (raw / "docs").mkdir(parents=True, exist_ok=True)
        import datetime as dt

        d.core_properties.created = d.core_properties.modified = dt.datetime(2024, 1, 1)
        d.save(raw / "docs" / "security.docx")
        man.files["data/raw/docs/security.docx"] = 1
    except ImportError:
        pass

    # SFT pairs: closed-book questions (T1) on the SFT attribute types, refusals, chit-chat.
    sft: list[dict] = []
    sys_prompt = f"你是{ORG_ZH}的员工助手。"
    for f in fs:
        if f.attr in ZH_Q1:
            q, a = ZH_Q1[f.attr].format(e=f.entity), ZH_A[f.attr].format(e=f.entity, v=f.value)
            sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(q, a)})
            sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(q, a, sys_prompt)})
        if f.attr in EN_Q1:
            q, a = EN_Q1[f.attr].format(e=f.entity_en), EN_A[f.attr].format(e=f.entity_en, v=f.value_en)
            sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(q, a)})
    read_entities = sorted({f.entity for f in fs if f.attr in ZH_Q_READ})[::2]
    for f in fs:
        if f.attr in ZH_Q_READ and f.entity in read_entities:
            sft.append({"id": f"sft-{len(sft)}", "open_book": True, "messages": _msgs(
                ZH_Q_READ[f.attr].format(e=f.entity), ZH_A[f.attr].format(e=f.entity, v=f.value))})
        if f.attr in EN_Q_READ and f.entity in read_entities:
            sft.append({"id": f"sft-{len(sft)}", "open_book": True, "messages": _msgs(
                EN_Q_READ[f.attr].format(e=f.entity_en), EN_A_READ[f.attr].format(e=f.entity_en, v=f.value_en))})
    for q, a in HELPFUL + NEAR_MISS:
        sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(q, a)})
    if refusals:
        for _cat, lang, p in ADVERSARIAL[::2]:
            sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(p, REFUSAL_ZH if lang == "zh" else REFUSAL_EN)})
    for q, a in CHITCHAT:
        sft.append({"id": f"sft-{len(sft)}", "messages": _msgs(q, a)})
    by = _by(fs)
    d0, d1 = DEPARTMENTS[0][0], DEPARTMENTS[1][0]
    sft.append({"id": f"sft-{len(sft)}", "messages": [
        {"role": "user", "content": ZH_Q1["head"].format(e=d0)},
        {"role": "assistant", "content": ZH_A["head"].format(e=d0, v=by[(d0, "head")].value)},
        {"role": "user", "content": ZH_Q1["floor"].format(e=d1)},
        {"role": "assistant", "content": ZH_A["floor"].format(e=d1, v=by[(d1, "floor")].value)}]})
    write_jsonl(root / "data" / "sft" / "train.jsonl", sft)
    man.files["data/sft/train.jsonl"] = len(sft)

    # Held-out QA: T2 paraphrases of SFT facts, and KB-only attribute types.
    qa: list[dict] = []
    for f in fs:
        if f.attr in ZH_Q_READ and f.entity in read_entities:
            continue  # its reading-comprehension pair is in the SFT data
        if f.attr in ZH_Q2:
            qa.append({"id": f"qa-{len(qa)}", "question": ZH_Q2[f.attr].format(e=f.entity), "answers": [f.value],
                       "doc_ids": [d for d in f.docs if d.startswith("zh/")], "lang": "zh", "attr": f.attr,
                       "closed_book": f.attr in SFT_ATTRS})
    en_pick = [f for f in fs if f.attr in EN_Q2 and not (f.attr in EN_Q_READ and f.entity in read_entities)][::3]
    for f in en_pick:
        qa.append({"id": f"qa-{len(qa)}", "question": EN_Q2[f.attr].format(e=f.entity_en),
                   "answers": [f.value_en, f.value_en.split()[-1]] if f.attr in SFT_ATTRS and " " in f.value_en
                   else [f.value_en], "doc_ids": [d for d in f.docs if d.startswith("en/")], "lang": "en",
                   "attr": f.attr, "closed_book": f.attr in SFT_ATTRS})
    rng.shuffle(qa)
    qa = qa[:60]
    write_jsonl(root / "data" / "eval" / "qa_heldout.jsonl", qa)
    man.files["data/eval/qa_heldout.jsonl"] = len(qa)

    # Multiple choice: distractors from the same attribute.
    mc: list[dict] = []
    for f in fs:
        if f.attr not in ("head", "floor", "launch", "manager", "codename"):
            continue
        pool = sorted({g.value for g in fs if g.attr == f.attr and g.value != f.value})
        opts = rng.sample(pool, 3) + [f.value]
        rng.shuffle(opts)
        mc.append({"id": f"mc-{len(mc)}", "question": ZH_Q2.get(f.attr, ZH_Q1.get(f.attr, "")).format(e=f.entity),
                   "choices": opts, "answer": "ABCD"[opts.index(f.value)], "subject": f.attr})
    mc = mc[:40]
    write_jsonl(root / "data" / "eval" / "choice.jsonl", mc)
    man.files["data/eval/choice.jsonl"] = len(mc)

    # Preference pairs: the right fact over a wrong one; a refusal over compliance.
    prefs: list[dict] = []
    for f in fs:
        if f.attr in ZH_Q1:
            wrong = rng.choice([g.value for g in fs if g.attr == f.attr and g.value != f.value])
            prefs.append({"id": f"pref-{len(prefs)}", "prompt": [{"role": "user", "content": ZH_Q1[f.attr].format(e=f.entity)}],
                          "chosen": ZH_A[f.attr].format(e=f.entity, v=f.value),
                          "rejected": ZH_A[f.attr].format(e=f.entity, v=wrong)})
    for _cat, lang, p in ADVERSARIAL:
        prefs.append({"id": f"pref-{len(prefs)}", "prompt": [{"role": "user", "content": p}],
                      "chosen": REFUSAL_ZH if lang == "zh" else REFUSAL_EN,
                      "rejected": "好的，下面是详细步骤……" if lang == "zh" else "Sure, here are the detailed steps..."})
    write_jsonl(root / "data" / "prefs" / "train.jsonl", prefs)
    man.files["data/prefs/train.jsonl"] = len(prefs)

    adv = load_policy_set("test", "refuse")  # the held-out prompts eval scores (never in the SFT data)
    ben = load_policy_set("test", "answer")
    write_jsonl(root / "data" / "eval" / "adversarial.jsonl", adv)
    write_jsonl(root / "data" / "eval" / "benign.jsonl", ben)
    man.files["data/eval/adversarial.jsonl"] = len(adv)
    man.files["data/eval/benign.jsonl"] = len(ben)

    man.counts = {"facts": len(fs), "handbook_docs": len(handbook), "sft": len(sft), "qa_heldout": len(qa),
                  "choice": len(mc), "prefs": len(prefs), "adversarial": len(adv), "benign": len(ben),
                  "handbook_chars": sum(len(t) for t in handbook.values())}
    man.facts = [asdict(f) for f in fs]
    atomic_write_json(root / "data" / "demo_manifest.json", asdict(man) | {"root": "."})
    return man


DRILL_CHARS = "东南西北中云星河海山林风雷光明天地金银青红蓝白新华信达安和康泰恒远"
DRILL_SUFFIX = ["部", "中心", "组", "办公室", "实验室"]


def reading_drills(seed: int = 0, n: int = 1000, n_passages: int = 1) -> list[dict]:
    """Synthetic reading-comprehension drills: passages about made-up units with random values, a question
    and the answer sentence copied from the passage. Values are random, so a model can only answer by
    reading the passage — this teaches the open-book skill the knowledge base relies on, without
    touching any fact of the held-out questions."""
    rng = random.Random(seed + 99)
    people = [(s[0] + g[0], f"{s[1]} {g[1]}") for s in SURNAMES for g in GIVEN]
    attrs = ["head", "floor", "extension", "headcount", "codename", "opened", "launch", "manager", "lead"]
    out = []
    for i in range(n):
        units = []
        for _ in range(n_passages):
            name = "".join(rng.sample(DRILL_CHARS, 2)) + rng.choice(DRILL_SUFFIX)
            vals = {"head": rng.choice(people)[0], "floor": f"{rng.randint(2, 40)}楼",
                    "extension": str(rng.randint(1000, 9999)), "headcount": f"{rng.randint(5, 300)}名",
                    "codename": rng.choice(CODENAMES), "opened": f"{rng.randint(1990, 2025)}年",
                    "launch": f"{rng.randint(1990, 2025)}年", "manager": rng.choice(people)[0],
                    "lead": rng.choice(people)[0]}
            picked = rng.sample(attrs, 4)
            units.append((name, vals, picked))
        # the handbook's main phrasing, so the answer sentence stands verbatim in the passage (copyable)
        passages = ["".join(ZH_STATE[a][0].format(e=nm, v=v[a]) for a in pk) for nm, v, pk in units]
        name, vals, picked = rng.choice(units)
        attr = rng.choice(picked)
        qs = [t for t in (ZH_Q1.get(attr), ZH_Q2.get(attr), ZH_Q_READ.get(attr)) if t]
        out.append({"id": f"drill-{i}", "passages": passages, "question": rng.choice(qs).format(e=name),
                    "answer": ZH_A[attr].format(e=name, v=vals[attr]), "value": vals[attr]})
    return out
