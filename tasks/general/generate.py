"""Write tasks/general/data/{en,zh}/test.jsonl: a general-ability multiple-choice suite, deterministically.

    python tasks/general/generate.py

Five categories, about 90-100 items each per language, four options, scored by log-likelihood (so base models
without chat templates work). World knowledge, science and commonsense come from tables written here;
arithmetic and reading comprehension are computed, so every answer is right by construction. Measuring the same
items before and after fine-tuning is what makes forgetting measurable offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.tasks.datagen import rng, write_jsonl  # noqa: E402

SEED = 20261125

# country (en, zh), capital (en, zh), continent (en, zh), currency (en, zh)
COUNTRIES = [
    ("France", "法国", "Paris", "巴黎", "Europe", "欧洲", "euro", "欧元"),
    ("Germany", "德国", "Berlin", "柏林", "Europe", "欧洲", "euro", "欧元"),
    ("Italy", "意大利", "Rome", "罗马", "Europe", "欧洲", "euro", "欧元"),
    ("Spain", "西班牙", "Madrid", "马德里", "Europe", "欧洲", "euro", "欧元"),
    ("United Kingdom", "英国", "London", "伦敦", "Europe", "欧洲", "pound sterling", "英镑"),
    ("Russia", "俄罗斯", "Moscow", "莫斯科", "Europe", "欧洲", "rouble", "卢布"),
    ("Poland", "波兰", "Warsaw", "华沙", "Europe", "欧洲", "zloty", "兹罗提"),
    ("Sweden", "瑞典", "Stockholm", "斯德哥尔摩", "Europe", "欧洲", "krona", "瑞典克朗"),
    ("Switzerland", "瑞士", "Bern", "伯尔尼", "Europe", "欧洲", "Swiss franc", "瑞士法郎"),
    ("China", "中国", "Beijing", "北京", "Asia", "亚洲", "renminbi", "人民币"),
    ("Japan", "日本", "Tokyo", "东京", "Asia", "亚洲", "yen", "日元"),
    ("South Korea", "韩国", "Seoul", "首尔", "Asia", "亚洲", "won", "韩元"),
    ("India", "印度", "New Delhi", "新德里", "Asia", "亚洲", "rupee", "卢比"),
    ("Thailand", "泰国", "Bangkok", "曼谷", "Asia", "亚洲", "baht", "泰铢"),
    ("Vietnam", "越南", "Hanoi", "河内", "Asia", "亚洲", "dong", "越南盾"),
    ("Indonesia", "印度尼西亚", "Jakarta", "雅加达", "Asia", "亚洲", "rupiah", "印尼盾"),
    ("Turkey", "土耳其", "Ankara", "安卡拉", "Asia", "亚洲", "lira", "里拉"),
    ("Egypt", "埃及", "Cairo", "开罗", "Africa", "非洲", "Egyptian pound", "埃及镑"),
    ("Kenya", "肯尼亚", "Nairobi", "内罗毕", "Africa", "非洲", "shilling", "先令"),
    ("Nigeria", "尼日利亚", "Abuja", "阿布贾", "Africa", "非洲", "naira", "奈拉"),
    ("South Africa", "南非", "Pretoria", "比勒陀利亚", "Africa", "非洲", "rand", "兰特"),
    ("Morocco", "摩洛哥", "Rabat", "拉巴特", "Africa", "非洲", "dirham", "迪拉姆"),
    ("United States", "美国", "Washington, D.C.", "华盛顿", "North America", "北美洲", "US dollar", "美元"),
    ("Canada", "加拿大", "Ottawa", "渥太华", "North America", "北美洲", "Canadian dollar", "加元"),
    ("Mexico", "墨西哥", "Mexico City", "墨西哥城", "North America", "北美洲", "peso", "比索"),
    ("Brazil", "巴西", "Brasília", "巴西利亚", "South America", "南美洲", "real", "雷亚尔"),
    (
        "Argentina",
        "阿根廷",
        "Buenos Aires",
        "布宜诺斯艾利斯",
        "South America",
        "南美洲",
        "Argentine peso",
        "阿根廷比索",
    ),
    ("Peru", "秘鲁", "Lima", "利马", "South America", "南美洲", "sol", "索尔"),
    ("Australia", "澳大利亚", "Canberra", "堪培拉", "Oceania", "大洋洲", "Australian dollar", "澳元"),
    ("New Zealand", "新西兰", "Wellington", "惠灵顿", "Oceania", "大洋洲", "New Zealand dollar", "新西兰元"),
]
ELEMENTS = [
    ("hydrogen", "氢", "H"),
    ("helium", "氦", "He"),
    ("carbon", "碳", "C"),
    ("nitrogen", "氮", "N"),
    ("oxygen", "氧", "O"),
    ("sodium", "钠", "Na"),
    ("magnesium", "镁", "Mg"),
    ("aluminium", "铝", "Al"),
    ("silicon", "硅", "Si"),
    ("sulfur", "硫", "S"),
    ("chlorine", "氯", "Cl"),
    ("potassium", "钾", "K"),
    ("calcium", "钙", "Ca"),
    ("iron", "铁", "Fe"),
    ("copper", "铜", "Cu"),
    ("zinc", "锌", "Zn"),
    ("silver", "银", "Ag"),
    ("gold", "金", "Au"),
    ("mercury", "汞", "Hg"),
    ("lead", "铅", "Pb"),
    ("tin", "锡", "Sn"),
    ("uranium", "铀", "U"),
    ("neon", "氖", "Ne"),
    ("iodine", "碘", "I"),
]
# (question en, question zh, answer en, answer zh, three wrong en, three wrong zh)
SCIENCE = [
    (
        "Which planet is closest to the Sun?",
        "哪颗行星离太阳最近？",
        "Mercury",
        "水星",
        ["Venus", "Mars", "Earth"],
        ["金星", "火星", "地球"],
    ),
    (
        "Which planet is the largest in the Solar System?",
        "太阳系中最大的行星是哪颗？",
        "Jupiter",
        "木星",
        ["Saturn", "Earth", "Neptune"],
        ["土星", "地球", "海王星"],
    ),
    (
        "Which planet is known as the Red Planet?",
        "哪颗行星被称为红色星球？",
        "Mars",
        "火星",
        ["Venus", "Jupiter", "Mercury"],
        ["金星", "木星", "水星"],
    ),
    (
        "At sea level, water boils at",
        "在海平面，水的沸点是",
        "100 °C",
        "100 °C",
        ["50 °C", "80 °C", "150 °C"],
        ["50 °C", "80 °C", "150 °C"],
    ),
    (
        "Water freezes at",
        "水的冰点是",
        "0 °C",
        "0 °C",
        ["10 °C", "-20 °C", "32 °C"],
        ["10 °C", "-20 °C", "32 °C"],
    ),
    (
        "What gas do plants take in for photosynthesis?",
        "植物进行光合作用时吸收哪种气体？",
        "carbon dioxide",
        "二氧化碳",
        ["oxygen", "nitrogen", "helium"],
        ["氧气", "氮气", "氦气"],
    ),
    (
        "What gas do humans need to breathe in to live?",
        "人类呼吸需要吸入哪种气体才能生存？",
        "oxygen",
        "氧气",
        ["carbon dioxide", "helium", "neon"],
        ["二氧化碳", "氦气", "氖气"],
    ),
    (
        "Which organ pumps blood through the body?",
        "哪个器官负责把血液泵向全身？",
        "the heart",
        "心脏",
        ["the liver", "the lungs", "the stomach"],
        ["肝脏", "肺", "胃"],
    ),
    (
        "Which organ do humans use to breathe?",
        "人用哪个器官呼吸？",
        "the lungs",
        "肺",
        ["the heart", "the kidneys", "the stomach"],
        ["心脏", "肾脏", "胃"],
    ),
    (
        "How many legs does an insect have?",
        "昆虫有几条腿？",
        "six",
        "六条",
        ["four", "eight", "ten"],
        ["四条", "八条", "十条"],
    ),
    (
        "How many legs does a spider have?",
        "蜘蛛有几条腿？",
        "eight",
        "八条",
        ["six", "four", "ten"],
        ["六条", "四条", "十条"],
    ),
    (
        "What is the chemical formula of water?",
        "水的化学式是什么？",
        "H2O",
        "H2O",
        ["CO2", "O2", "NaCl"],
        ["CO2", "O2", "NaCl"],
    ),
    (
        "What is the chemical formula of table salt?",
        "食盐的化学式是什么？",
        "NaCl",
        "NaCl",
        ["H2O", "CO2", "KCl"],
        ["H2O", "CO2", "KCl"],
    ),
    (
        "What force pulls objects toward the Earth?",
        "什么力把物体拉向地球？",
        "gravity",
        "重力",
        ["magnetism", "friction", "buoyancy"],
        ["磁力", "摩擦力", "浮力"],
    ),
    (
        "What is the closest star to the Earth?",
        "离地球最近的恒星是什么？",
        "the Sun",
        "太阳",
        ["Sirius", "Polaris", "the Moon"],
        ["天狼星", "北极星", "月球"],
    ),
    (
        "What does the Moon orbit?",
        "月球绕着什么运行？",
        "the Earth",
        "地球",
        ["the Sun", "Mars", "Jupiter"],
        ["太阳", "火星", "木星"],
    ),
    (
        "How many days does the Earth take to orbit the Sun, roughly?",
        "地球绕太阳一周大约需要多少天？",
        "365",
        "365天",
        ["30", "100", "1000"],
        ["30天", "100天", "1000天"],
    ),
    (
        "Which part of a plant absorbs water from the soil?",
        "植物的哪个部分从土壤中吸收水分？",
        "the roots",
        "根",
        ["the leaves", "the flowers", "the fruit"],
        ["叶子", "花", "果实"],
    ),
    (
        "What do bees make?",
        "蜜蜂会酿造什么？",
        "honey",
        "蜂蜜",
        ["milk", "silk", "wax paper"],
        ["牛奶", "丝绸", "蜡纸"],
    ),
    (
        "Which animal is a mammal?",
        "下列哪种动物是哺乳动物？",
        "a whale",
        "鲸",
        ["a shark", "a frog", "a crocodile"],
        ["鲨鱼", "青蛙", "鳄鱼"],
    ),
    (
        "Sound travels fastest through",
        "声音在哪种介质中传播最快？",
        "steel",
        "钢铁",
        ["air", "a vacuum", "water vapour"],
        ["空气", "真空", "水蒸气"],
    ),
    (
        "Light from the Sun reaches the Earth in about",
        "太阳光到达地球大约需要",
        "8 minutes",
        "8分钟",
        ["8 seconds", "8 hours", "8 days"],
        ["8秒", "8小时", "8天"],
    ),
    (
        "What is the hardest natural material?",
        "天然最硬的物质是什么？",
        "diamond",
        "钻石",
        ["gold", "iron", "glass"],
        ["黄金", "铁", "玻璃"],
    ),
    (
        "A rainbow appears when sunlight passes through",
        "彩虹出现是因为阳光穿过了",
        "raindrops",
        "雨滴",
        ["smoke", "sand", "clouds of dust"],
        ["烟雾", "沙子", "尘云"],
    ),
]
# (question en, question zh, answer en, answer zh, wrong en, wrong zh)
COMMONSENSE = [
    (
        "What do you use to cut paper?",
        "用什么剪纸？",
        "scissors",
        "剪刀",
        ["a spoon", "a pillow", "a cup"],
        ["勺子", "枕头", "杯子"],
    ),
    (
        "Where do you keep milk cold at home?",
        "在家里把牛奶放在哪里保持冷藏？",
        "in the fridge",
        "冰箱里",
        ["in the oven", "on the roof", "in the bathtub"],
        ["烤箱里", "屋顶上", "浴缸里"],
    ),
    (
        "What do people usually wear on their feet?",
        "人们通常在脚上穿什么？",
        "shoes",
        "鞋",
        ["gloves", "hats", "scarves"],
        ["手套", "帽子", "围巾"],
    ),
    (
        "If it is raining, what should you take outside?",
        "下雨时出门应该带什么？",
        "an umbrella",
        "雨伞",
        ["sunglasses", "a kite", "a fan"],
        ["墨镜", "风筝", "扇子"],
    ),
    (
        "What do you need to unlock a door?",
        "开门锁需要什么？",
        "a key",
        "钥匙",
        ["a spoon", "a sock", "a book"],
        ["勺子", "袜子", "书"],
    ),
    (
        "When do most people sleep?",
        "大多数人什么时候睡觉？",
        "at night",
        "晚上",
        ["at noon", "during lunch", "while driving"],
        ["中午", "吃午饭时", "开车时"],
    ),
    (
        "What do you do when you are thirsty?",
        "口渴时会做什么？",
        "drink water",
        "喝水",
        ["take a nap", "read a map", "paint a wall"],
        ["睡午觉", "看地图", "刷墙"],
    ),
    (
        "Where do fish live?",
        "鱼生活在哪里？",
        "in water",
        "水里",
        ["in trees", "in deserts", "in clouds"],
        ["树上", "沙漠里", "云里"],
    ),
    (
        "What is used to write on a blackboard?",
        "在黑板上写字用什么？",
        "chalk",
        "粉笔",
        ["soap", "butter", "a brush for teeth"],
        ["肥皂", "黄油", "牙刷"],
    ),
    (
        "Ice cream left in the sun will",
        "冰淇淋放在太阳下会",
        "melt",
        "融化",
        ["freeze", "grow", "turn to stone"],
        ["结冰", "长大", "变成石头"],
    ),
    (
        "What do you use to see in a dark room?",
        "在黑暗的房间里用什么照明？",
        "a lamp",
        "灯",
        ["a mirror", "a blanket", "a plate"],
        ["镜子", "毯子", "盘子"],
    ),
    (
        "Which season is usually the coldest?",
        "哪个季节通常最冷？",
        "winter",
        "冬天",
        ["summer", "spring", "autumn"],
        ["夏天", "春天", "秋天"],
    ),
    (
        "What do you use to pay in a shop?",
        "在商店付款用什么？",
        "money",
        "钱",
        ["leaves", "stones", "air"],
        ["树叶", "石头", "空气"],
    ),
    (
        "If a glass falls on a stone floor, it will probably",
        "玻璃杯掉在石头地板上，很可能会",
        "break",
        "摔碎",
        ["bounce back up", "float", "get bigger"],
        ["弹回来", "飘起来", "变大"],
    ),
    (
        "Where do you go to borrow books?",
        "去哪里借书？",
        "a library",
        "图书馆",
        ["a bakery", "a gas station", "a gym"],
        ["面包店", "加油站", "健身房"],
    ),
    (
        "What do people use to call each other from far away?",
        "人们用什么远距离互相通话？",
        "a phone",
        "电话",
        ["a fork", "a chair", "a candle"],
        ["叉子", "椅子", "蜡烛"],
    ),
    (
        "What should you do at a red traffic light?",
        "遇到红灯应该怎么做？",
        "stop",
        "停下",
        ["speed up", "turn off the engine forever", "honk and go"],
        ["加速", "永远熄火", "按喇叭冲过去"],
    ),
    (
        "Where does a pilot work?",
        "飞行员在哪里工作？",
        "in an aeroplane",
        "飞机上",
        ["in a submarine", "in a bakery", "in a classroom"],
        ["潜艇里", "面包店", "教室里"],
    ),
    (
        "Who treats sick people in a hospital?",
        "在医院里谁给病人治病？",
        "a doctor",
        "医生",
        ["a pilot", "a chef", "a farmer"],
        ["飞行员", "厨师", "农民"],
    ),
    (
        "What do you use to brush your teeth?",
        "用什么刷牙？",
        "a toothbrush",
        "牙刷",
        ["a comb", "a hammer", "a pen"],
        ["梳子", "锤子", "钢笔"],
    ),
]
# (en, zh, weight in kg) — for "which is heaviest" items
THINGS = [
    ("an ant", "蚂蚁", 0.000003),
    ("a mouse", "老鼠", 0.02),
    ("an apple", "苹果", 0.2),
    ("a cat", "猫", 4),
    ("a dog", "狗", 25),
    ("a person", "人", 70),
    ("a horse", "马", 500),
    ("a car", "汽车", 1500),
    ("an elephant", "大象", 5000),
    ("a truck", "卡车", 12000),
    ("a blue whale", "蓝鲸", 150000),
    ("a feather", "羽毛", 0.001),
    ("a book", "书", 0.5),
    ("a bicycle", "自行车", 12),
]
NAMES = {
    "en": ["Tom", "Lily", "Sam", "Mia", "Ben", "Ava", "Leo", "Zoe"],
    "zh": ["小明", "小红", "小刚", "小丽", "小华", "小芳", "小军", "小燕"],
}
PLACES = {
    "en": ["the market", "the library", "the park", "the museum", "the bakery", "the zoo"],
    "zh": ["市场", "图书馆", "公园", "博物馆", "面包店", "动物园"],
}
ITEMS = {
    "en": ["apples", "books", "pencils", "oranges", "cards", "flowers"],
    "zh": ["个苹果", "本书", "支铅笔", "个橙子", "张卡片", "朵花"],
}  # zh items carry their measure word
DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "zh": ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
}


def mc(r, lang: str, category: str, question: str, answer: str, wrong: list[str]) -> dict:
    choices = [answer, *wrong[:3]]
    r.shuffle(choices)
    return {
        "lang": lang,
        "category": category,
        "question": question,
        "choices": choices,
        "label": choices.index(answer),
    }


def world(lang: str, r) -> list[dict]:
    rows = []
    zh = lang == "zh"
    for c in COUNTRIES:
        others = [o for o in COUNTRIES if o is not c]
        cap = c[3] if zh else c[2]
        wrong = [o[3] if zh else o[2] for o in r.sample(others, 3)]
        q = f"{c[1]}的首都是哪里？" if zh else f"What is the capital of {c[0]}?"
        rows.append(mc(r, lang, "world_knowledge", q, cap, wrong))
        cont = c[5] if zh else c[4]
        wrong = r.sample(sorted({o[5] if zh else o[4] for o in COUNTRIES} - {cont}), 3)
        q = f"{c[1]}位于哪个大洲？" if zh else f"On which continent is {c[0]}?"
        rows.append(mc(r, lang, "world_knowledge", q, cont, wrong))
        cur = c[7] if zh else c[6]
        wrong = r.sample(sorted({o[7] if zh else o[6] for o in COUNTRIES} - {cur}), 3)
        q = f"{c[1]}使用的货币是什么？" if zh else f"What is the currency of {c[0]}?"
        rows.append(mc(r, lang, "world_knowledge", q, cur, wrong))
    return rows


def science(lang: str, r) -> list[dict]:
    zh = lang == "zh"
    rows = [
        mc(r, lang, "science", s[1] if zh else s[0], s[3] if zh else s[2], s[5] if zh else s[4])
        for s in SCIENCE
    ]
    for e in ELEMENTS:
        wrong = [o[2] for o in r.sample([o for o in ELEMENTS if o is not e], 3)]
        q = f"{e[1]}的化学符号是什么？" if zh else f"What is the chemical symbol of {e[0]}?"
        rows.append(mc(r, lang, "science", q, e[2], wrong))
        wrong = [o[1] if zh else o[0] for o in r.sample([o for o in ELEMENTS if o is not e], 3)]
        q = f"化学符号{e[2]}代表哪种元素？" if zh else f"Which element has the chemical symbol {e[2]}?"
        rows.append(mc(r, lang, "science", q, e[1] if zh else e[0], wrong))
    return rows


def arithmetic(lang: str, r) -> list[dict]:
    rows = []
    zh = lang == "zh"
    for i in range(96):
        kind = i % 4
        a, b = r.randint(12, 99), r.randint(2, 49)
        if kind == 0:
            q, ans = (f"{a} 加 {b} 等于多少？" if zh else f"What is {a} plus {b}?"), a + b
        elif kind == 1:
            q, ans = (f"{a} 减 {b} 等于多少？" if zh else f"What is {a} minus {b}?"), a - b
        elif kind == 2:
            a, b = r.randint(3, 19), r.randint(3, 12)
            q, ans = (f"{a} 乘以 {b} 等于多少？" if zh else f"What is {a} times {b}?"), a * b
        else:
            name, item = r.choice(NAMES[lang]), r.choice(ITEMS[lang])
            a, b = r.randint(10, 40), r.randint(2, 9)
            q = (
                f"{name}有{a}{item}，送给朋友{b}{item[0]}，还剩几{item[0]}？"
                if zh
                else f"{name} has {a} {item} and gives {b} to a friend. How many {item} are left?"
            )
            ans = a - b
        offsets = r.sample([-10, -2, -1, 1, 2, 10], 3)
        rows.append(mc(r, lang, "arithmetic", q, str(ans), [str(ans + d) for d in offsets]))
    return rows


def commonsense(lang: str, r) -> list[dict]:
    zh = lang == "zh"
    rows = [
        mc(r, lang, "commonsense", c[1] if zh else c[0], c[3] if zh else c[2], c[5] if zh else c[4])
        for c in COMMONSENSE
    ]
    for _ in range(70):
        four = r.sample(THINGS, 4)
        heavy = max(four, key=lambda t: t[2])
        light = min(four, key=lambda t: t[2])
        pick, word = (heavy, ("最重", "heaviest")) if r.random() < 0.5 else (light, ("最轻", "lightest"))
        names = [t[1] if zh else t[0] for t in four]
        q = f"下列哪一个{word[0]}？" if zh else f"Which of these is the {word[1]}?"
        ans = pick[1] if zh else pick[0]
        rows.append(mc(r, lang, "commonsense", q, ans, [n for n in names if n != ans]))
    return rows


def reading(lang: str, r) -> list[dict]:
    rows = []
    zh = lang == "zh"
    for i in range(96):
        a, b = r.sample(NAMES[lang], 2)
        place, item, day = r.choice(PLACES[lang]), r.choice(ITEMS[lang]), r.choice(DAYS[lang])
        n, m = r.randint(2, 9), r.randint(2, 9)
        story = (
            f"{day}，{a}去了{place}，买了{n}{item}。后来{b}也来了，买了{m}{item}。"
            if zh
            else f"On {day}, {a} went to {place} and bought {n} {item}. Later {b} arrived and bought {m} {item}."
        )
        kind = i % 4
        if kind == 0:
            q, ans, wrong = (
                ("谁先到？" if zh else "Who arrived first?"),
                a,
                [b, *r.sample([x for x in NAMES[lang] if x not in (a, b)], 2)],
            )
        elif kind == 1:
            q, ans = ("他们去了哪里？" if zh else "Where did they go?"), place
            wrong = r.sample([p for p in PLACES[lang] if p != place], 3)
        elif kind == 2:
            q, ans = (
                (f"他们一共买了几{item}？" if zh else f"How many {item} did they buy in total?"),
                str(n + m),
            )
            wrong = [str(x) for x in r.sample([v for v in range(2, 19) if v != n + m], 3)]
        else:
            q, ans = ("这件事发生在哪天？" if zh else "On which day did this happen?"), day
            wrong = r.sample([d for d in DAYS[lang] if d != day], 3)
        passage = f"阅读：{story}\n{q}" if zh else f"Read: {story}\n{q}"
        rows.append(mc(r, lang, "reading", passage, ans, wrong))
    return rows


def build(lang: str) -> list[dict]:
    rows = []
    for make in (world, science, arithmetic, commonsense, reading):
        rows += make(lang, rng(SEED, lang, make.__name__))
    rng(SEED, lang, "order").shuffle(rows)
    return [{"id": f"{lang}-{i:04d}", **row} for i, row in enumerate(rows)]


def main(out: Path = HERE / "data") -> None:
    for lang in ("en", "zh"):
        path = out / lang / "test.jsonl"
        print(f"wrote {path} ({write_jsonl(path, build(lang))} rows)")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data"
    )  # an argument: write elsewhere (tests compare)
