"""The demo retailer's vocabulary: reasons, strategies, channels, categories, places, events.

Everything here is the simulator's ground truth about how its world works (which reason
each strategy addresses, how hard each channel is to reach...). The kit never reads it;
it only sees the client files these constants shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --- churn reasons -------------------------------------------------------------------

REASONS: tuple[str, ...] = (
    "price",
    "quality",
    "service_attitude",
    "speed",
    "timeliness",
    "info_clarity",
    "reputation",
    "values",
    "competitor_nearby",
    "cost_conscious",
    "too_few_products",
    "unattractive_products",
    "only_contacted_when_selling",
    "scripted_service",
    "no_need",
)
R = {name: i for i, name in enumerate(REASONS)}

# Active churn: the customer's needs or options changed. Passive: our offer failed them.
ACTIVE_REASONS: frozenset[str] = frozenset({"competitor_nearby", "no_need", "cost_conscious", "values"})
CHURN_TYPE: dict[str, str] = {r: ("active" if r in ACTIVE_REASONS else "passive") for r in REASONS}

# Reason mix of a dropout with no outside event behind it, before segment modifiers.
BASE_REASON_WEIGHTS: dict[str, float] = {
    "price": 0.33,
    "quality": 0.08,
    "service_attitude": 0.11,
    "speed": 0.05,
    "timeliness": 0.03,
    "info_clarity": 0.03,
    "reputation": 0.03,
    "values": 0.02,
    "competitor_nearby": 0.03,
    "cost_conscious": 0.06,
    "too_few_products": 0.04,
    "unattractive_products": 0.04,
    "only_contacted_when_selling": 0.04,
    "scripted_service": 0.03,
    "no_need": 0.08,
}

# Probability that a dropout leaves a complaint / service ticket naming its reason.
TRACE_PROB: dict[str, float] = {r: (0.15 if r in ACTIVE_REASONS else 0.6) for r in REASONS}
TRACE_PROB["price"] = 0.45
TRACE_PROB["no_need"] = 0.10

# Monthly natural reactivation probability of a churned customer, by true reason.
NATURAL_REACTIVATION: dict[str, float] = {r: 0.015 for r in REASONS}
NATURAL_REACTIVATION.update({"no_need": 0.03, "cost_conscious": 0.02, "competitor_nearby": 0.008})

# Words a reason's complaint, survey or stated reason contains (zh first, then en).
REASON_KEYWORDS: dict[str, tuple[str, ...]] = {
    "price": ("价格太贵", "太贵", "涨价", "比别家贵", "too expensive", "price"),
    "quality": ("质量问题", "质量差", "不新鲜", "坏了", "quality", "broken"),
    "service_attitude": ("服务态度差", "态度差", "态度恶劣", "不耐烦", "rude", "attitude"),
    "speed": ("配送太慢", "送货慢", "太慢", "slow delivery", "slow"),
    "timeliness": ("不准时", "超时", "迟到", "late", "not on time"),
    "info_clarity": ("说明不清楚", "不清楚", "看不懂", "unclear", "confusing"),
    "reputation": ("口碑差", "差评", "评价很差", "bad reviews", "reputation"),
    "values": ("理念不合", "不环保", "价值观", "values", "not sustainable"),
    "competitor_nearby": ("隔壁新开了一家", "附近新开", "别家更近", "new store nearby", "competitor"),
    "cost_conscious": ("省钱", "控制开支", "预算紧", "budget", "save money"),
    "too_few_products": ("品种太少", "选择太少", "经常没货", "few products", "out of stock"),
    "unattractive_products": ("没有新品", "款式老", "没意思", "boring", "nothing new"),
    "only_contacted_when_selling": ("只有推销才联系", "只会推销", "平时不理", "only call to sell", "only contact me to sell"),
    "scripted_service": ("像机器人", "照本宣科", "套话", "scripted", "robot"),
    "no_need": ("暂时不需要", "用不上", "搬家了", "no need", "don't need"),
}

# Complaint / ticket sentences per reason; each contains one of the reason's keywords.
REASON_TEXTS: dict[str, tuple[str, ...]] = {
    "price": ("价格太贵了，比别家贵不少", "最近又涨价了，买不起", "同样的东西这里太贵", "too expensive compared with other shops"),
    "quality": ("收到的商品有质量问题", "东西不新鲜，质量差", "用了两天就坏了", "quality problem with my last order"),
    "service_attitude": ("客服服务态度差", "门店店员态度恶劣", "打电话问问题客服很不耐烦", "staff were rude to me"),
    "speed": ("配送太慢了，等了一个星期", "送货慢，催了也没用", "发货太慢", "slow delivery again"),
    "timeliness": ("说好的时间不准时送达", "配送又超时了", "约好的上门安装迟到两个小时", "delivery was late, not on time"),
    "info_clarity": ("活动规则说明不清楚", "商品说明看不懂", "优惠券怎么用不清楚", "the offer terms are unclear"),
    "reputation": ("网上差评太多，不放心", "身边朋友都说口碑差", "看到很多评价很差", "too many bad reviews online"),
    "values": ("和我的理念不合", "包装太多不环保", "品牌价值观让人失望", "your values do not match mine"),
    "competitor_nearby": ("隔壁新开了一家，去那边买了", "附近新开的店更方便", "别家更近，就不来了", "a competitor opened a new store nearby"),
    "cost_conscious": ("最近要省钱，控制开支", "家里预算紧，少买点", "需要省钱，只买必需品", "on a tight budget, need to save money"),
    "too_few_products": ("品种太少，想买的都没有", "选择太少", "想要的东西经常没货", "too few products, always out of stock"),
    "unattractive_products": ("一直没有新品", "款式老，没意思", "商品没意思，不想逛", "boring products, nothing new"),
    "only_contacted_when_selling": ("只有推销才联系我", "平时不理人，只会推销", "只有推销才联系，有问题没人管", "you only call to sell"),
    "scripted_service": ("客服像机器人一样", "问什么都照本宣科", "全是套话解决不了问题", "scripted answers, like a robot"),
    "no_need": ("暂时不需要了", "搬家了，用不上", "现在用不上这些东西", "no need for now, don't need it"),
}

# --- strategies ---------------------------------------------------------------------

STRATEGIES: tuple[str, ...] = (
    "care_survey",
    "care_message",
    "competitor_differentiation",
    "membership_upgrade",
    "fix_notice",
    "apology_compensation",
    "product_education",
    "package_offer",
)
S = {name: i for i, name in enumerate(STRATEGIES)}

# Which true reasons each strategy addresses (the simulator's truth, not the kit's matrix).
STRATEGY_ADDRESSES: dict[str, tuple[str, ...]] = {
    "care_survey": (),
    "care_message": ("values", "reputation", "only_contacted_when_selling"),
    "competitor_differentiation": ("competitor_nearby",),
    "membership_upgrade": ("price", "cost_conscious"),
    "fix_notice": ("quality", "speed", "timeliness", "info_clarity"),
    "apology_compensation": ("service_attitude", "scripted_service"),
    "product_education": ("no_need", "unattractive_products", "too_few_products", "info_clarity"),
    "package_offer": ("price", "cost_conscious"),
}
# P(a reached, churned customer is won back) when the strategy addresses the true reason,
# on the phone, right after dropping out, with no offer.
UPLIFT_MATCHED: dict[str, float] = {
    "care_survey": 0.0,
    "care_message": 0.22,
    "competitor_differentiation": 0.30,
    "membership_upgrade": 0.32,
    "fix_notice": 0.30,
    "apology_compensation": 0.35,
    "product_education": 0.25,
    "package_offer": 0.40,
}
UPLIFT_MISMATCHED = 0.03
UPLIFT_CARE_SURVEY = 0.02  # the survey call itself, whatever the reason


def uplift_table() -> np.ndarray:
    """Base win-back probability, shape (n_strategies, n_reasons)."""
    table = np.full((len(STRATEGIES), len(REASONS)), UPLIFT_MISMATCHED)
    table[S["care_survey"], :] = UPLIFT_CARE_SURVEY
    for strategy, reasons in STRATEGY_ADDRESSES.items():
        for reason in reasons:
            table[S[strategy], R[reason]] = UPLIFT_MATCHED[strategy]
    return table


# --- contact channels -----------------------------------------------------------------

CHANNELS: tuple[str, ...] = ("phone", "sms", "email", "wechat", "app_push", "visit")
C = {name: i for i, name in enumerate(CHANNELS)}
REACH = np.array([0.60, 0.40, 0.25, 0.45, 0.30, 0.75])  # P(reached) per attempt
PERSUASION = np.array([1.0, 0.55, 0.45, 0.80, 0.45, 1.20])  # multiplies the win-back prob
PREFERRED_REACH_BOOST = 1.25
# how the customers file spells the preferred contact channel
CHANNEL_ZH: dict[str, str] = {"phone": "电话", "sms": "短信", "email": "邮件", "wechat": "微信", "app_push": "APP推送"}
PREFERRED_CHANNEL_WEIGHTS = np.array([0.35, 0.15, 0.08, 0.30, 0.12])  # over CHANNEL_ZH (no visit)

# call-centre behaviour
RESPONSES: tuple[str, ...] = ("accepted", "declined", "no_response", "callback")
RESPONSE_CHURNED = np.array([0.08, 0.37, 0.25, 0.30])  # reached, churned, not won back
RESPONSE_ALIVE = np.array([0.20, 0.35, 0.20, 0.25])  # reached, still an active customer
SURVEY_CONTINUE = 0.75  # P(a reached care/survey contact agrees to the follow-up)
STATED_TRUE = 0.70  # P(the stated reason is the true one)
VOLUNTEER_REASON = 0.20  # P(a reached non-survey contact mentions a reason anyway)
WIN_DELAY = np.array([0.80, 0.15, 0.05])  # month offset of a win-back purchase after the contact
OFFER_CATEGORY_SHARE = 0.85  # P(the win-back purchase is in the offer's category)
CONTACT_TIME_HOURS = ((9.0, 12.0), (13.0, 18.0), (18.0, 21.0))

# --- products -------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = ("生鲜", "粮油", "日用品", "个护", "家居", "美妆", "数码")
NECESSARY: frozenset[str] = frozenset({"生鲜", "粮油", "日用品", "个护"})
CATEGORY_TYPE: dict[str, str] = {c: ("necessary" if c in NECESSARY else "discretionary") for c in CATEGORIES}
CATEGORY_PRICE = np.array([0.6, 0.7, 0.6, 0.8, 1.6, 1.3, 3.0])
BUSINESS_LINES: tuple[str, ...] = ("生鲜", "日用", "家居", "美妆", "数码")
LINE_WEIGHTS = np.array([0.30, 0.25, 0.17, 0.16, 0.12])
CATEGORY_LINE = np.array([0, 0, 1, 1, 2, 3, 4])  # business line of each category
TX_CHANNELS: tuple[str, ...] = ("store", "app", "web")

# --- places and people ----------------------------------------------------------------

REGIONS: tuple[str, ...] = ("华东", "华北", "华南", "西南", "东北")
REGION_WEIGHTS = np.array([0.32, 0.22, 0.20, 0.14, 0.12])
CITIES: tuple[tuple[str, ...], ...] = (
    ("上海", "杭州", "南京", "苏州"),
    ("北京", "天津", "石家庄"),
    ("广州", "深圳", "厦门"),
    ("成都", "重庆", "昆明"),
    ("沈阳", "哈尔滨", "大连"),
)
MEMBER_LEVELS: tuple[str, ...] = ("普通", "银卡", "金卡")
GENDERS: tuple[str, ...] = ("男", "女")
CONTACT_TIMES: tuple[str, ...] = ("上午", "下午", "晚上")
SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN_CHARS = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉鹏宇欣怡晨浩然子涵雨轩梓")
EMAIL_DOMAINS: tuple[str, ...] = ("qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com")


# --- outside events ------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something that happens to a segment from a month on and adds to its dropout probability.

    ``extra`` is added to the per-purchase dropout probability of matching customers while
    the event is on (decaying by ``exp(-months_since_start / decay_months)`` when set);
    a dropout it causes carries one of ``reasons`` (weights).
    """

    name: str
    start: str
    extra: float
    reasons: dict[str, float]
    end: str | None = None
    region: str | None = None
    business_line: str | None = None
    decay_months: float | None = None
    description: str = field(default="", compare=False)


EVENTS: tuple[Event, ...] = (
    Event("competitor_opens_south", "2023-06", 0.06, {"competitor_nearby": 1.0},
          region="华南", decay_months=18.0,
          description="a competitor opens stores across 华南 (South China)"),
    Event("fresh_service_incident", "2023-10", 0.10, {"service_attitude": 0.6, "speed": 0.4},
          end="2023-12", business_line="生鲜",
          description="outsourced delivery and service team change in the 生鲜 line"),
    Event("competitor_opens_southwest", "2024-03", 0.05, {"competitor_nearby": 1.0},
          region="西南", decay_months=18.0,
          description="a competitor opens stores in 西南 (South-West China)"),
    Event("beauty_price_rise", "2024-05", 0.04, {"price": 1.0},
          end="2024-10", business_line="美妆",
          description="list prices of the 美妆 line go up"),
)


# --- other interaction texts ----------------------------------------------------------

KINDS: tuple[str, ...] = (
    "service_ticket",
    "complaint",
    "review",
    "referral",
    "community_post",
    "community_answer",
    "campaign_participation",
    "survey_response",
    "suggestion",
)
K = {name: i for i, name in enumerate(KINDS)}
# kind mix of the everyday engagement of a customer (complaints and surveys come apart)
ENGAGEMENT_KINDS = ("review", "community_post", "community_answer", "campaign_participation",
                    "referral", "suggestion", "service_ticket")
ENGAGEMENT_WEIGHTS = np.array([0.30, 0.14, 0.08, 0.25, 0.07, 0.05, 0.11])
INTERACTION_CHANNELS: tuple[str, ...] = ("app", "web", "wechat", "phone", "store")

PLAIN_TEXTS: dict[str, tuple[str, ...]] = {
    "review_good": ("东西很好，会回购", "新鲜，包装完好", "性价比不错", "物流很快，满意", "good quality, will buy again", "挺好用的"),
    "review_neutral": ("一般般吧", "还可以", "和描述差不多", "ok, nothing special"),
    "community_post": ("分享一下今天的收获", "晒单：这次买的很划算", "大家有什么推荐的吗", "sharing my weekly haul"),
    "community_answer": ("这个我买过，挺好用的", "可以试试会员日，有折扣", "回复：建议先买小份试试", "I bought it too, recommended"),
    "campaign_participation": ("参加了会员日活动", "参加了满减活动", "参与了新品试用", "joined the member day event"),
    "referral": ("推荐好友注册成功", "邀请家人成为会员", "referred a friend"),
    "suggestion": ("建议增加夜间配送", "希望会员积分可以抵现", "建议小程序增加收藏功能", "please add more payment options"),
    "service_ticket": ("查询订单物流", "修改收货地址", "申请开具发票", "咨询会员积分规则", "asked about order status"),
    "survey_good": ("整体满意", "服务很好", "东西不错", "satisfied overall", ""),
    "survey_neutral": ("还行", "一般", "有待改进", "it's fine", ""),
}


def text_bank() -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
    """All texts as one object array; offsets per plain group; text indices per reason.

    Returns ``(texts, plain_start, reason_idx)``: ``texts[i]`` is a string,
    ``plain_start[group]`` the index of a plain group's first text (its texts are
    contiguous), ``reason_idx[r]`` the indices of the texts of reason ``r``.
    """
    texts: list[str] = []
    plain_start: dict[str, int] = {}
    for group, items in PLAIN_TEXTS.items():
        plain_start[group] = len(texts)
        texts.extend(items)
    reason_idx: dict[str, np.ndarray] = {}
    for reason in REASONS:
        start = len(texts)
        texts.extend(REASON_TEXTS[reason])
        reason_idx[reason] = np.arange(start, len(texts))
    return np.array(texts, dtype=object), plain_start, reason_idx
