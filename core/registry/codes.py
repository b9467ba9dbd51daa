"""Code lists of the registry, each value with its Chinese and English label.

Stored values are short stable codes (English slugs, or the national standard's code
where one exists: GB 3304 ethnicities, GB/T 4761 family relations); imports accept the
code, the English slug or the Chinese label (``parse_code``), because spreadsheets from
community offices use whichever their template had.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

#: value → (zh, en)
ID_TYPES: dict[str, tuple[str, str]] = {
    "resident_id": ("居民身份证", "Resident identity card"),
    "hmt_residence_permit": ("港澳台居民居住证", "HK/Macao/Taiwan residence permit"),
    "foreign_permanent": ("外国人永久居留身份证", "Foreign permanent residence ID card"),
    "hk_macao_permit": ("港澳居民来往内地通行证", "HK/Macao residents' mainland travel permit"),
    "taiwan_permit": ("台湾居民来往大陆通行证", "Taiwan residents' mainland travel permit"),
    "passport": ("护照", "Passport"),
    "other": ("其他证件", "Other document"),
}
#: Document types whose number is an 18-character GB 11643 number (MOD 11-2 checked, with
#: birth date and sex inside).
GB11643_TYPES = frozenset({"resident_id", "hmt_residence_permit", "foreign_permanent"})

HUKOU_TYPES: dict[str, tuple[str, str]] = {
    "local": ("户籍人口", "Registered (local hukou)"),
    "floating": ("流动人口", "Floating (hukou elsewhere)"),
    "overseas": ("境外人员", "Overseas (foreigners, HK/Macao/Taiwan)"),
    "unregistered": ("未落户人员", "No hukou"),
}
HUKOU_ALIASES = {"户籍": "local", "本地": "local", "流动": "floating", "外来": "floating",
                 "境外": "overseas", "未落户": "unregistered"}

STATUSES: dict[str, tuple[str, str]] = {
    "active": ("在册", "Active"),
    "moved_out": ("已迁出", "Moved out"),
    "deceased": ("已死亡", "Deceased"),
    "merged": ("已合并", "Merged into another record"),
}

SEXES: dict[str, tuple[str, str]] = {"M": ("男", "Male"), "F": ("女", "Female")}
SEX_ALIASES = {"男性": "M", "女性": "F", "1": "M", "2": "F", "male": "M", "female": "F"}

RESIDENCE_ROLES: dict[str, tuple[str, str]] = {
    "owner": ("产权人", "Owner"),
    "tenant": ("租户", "Tenant"),
    "other": ("其他居住", "Other occupant"),
}
RESIDENCE_ALIASES = {"自有": "owner", "业主": "owner", "房主": "owner", "租住": "tenant",
                     "租赁": "tenant", "承租人": "tenant", "其他": "other", "借住": "other"}

DWELLING_USES: dict[str, tuple[str, str]] = {
    "self": ("自住", "Self-occupied"),
    "rented": ("出租", "Rented out"),
    "vacant": ("空置", "Vacant"),
    "business": ("经营", "Business use"),
}

HOUSEHOLD_KINDS: dict[str, tuple[str, str]] = {
    "family": ("家庭户", "Family household"),
    "collective": ("集体户", "Collective household"),
}

#: GB/T 4761 family-relation codes, first level [K: general knowledge of the standard;
#: the domain notes of docs/requirements.md have no list]. "02" is the head of household.
RELATIONS: dict[str, tuple[str, str]] = {
    "02": ("户主", "Head of household"),
    "10": ("配偶", "Spouse"),
    "20": ("子", "Son"),
    "30": ("女", "Daughter"),
    "40": ("孙子女", "Grandchild"),
    "50": ("父母", "Parent"),
    "60": ("祖父母", "Grandparent"),
    "70": ("兄弟姐妹", "Sibling"),
    "80": ("其他亲属", "Other relative"),
    "99": ("非亲属", "Not related"),
}
HEAD = "02"
RELATION_ALIASES = {
    "本人": "02", "head": "02", "spouse": "10", "妻": "10", "夫": "10", "妻子": "10",
    "丈夫": "10", "son": "20", "儿子": "20", "长子": "20", "次子": "20", "daughter": "30",
    "女儿": "30", "长女": "30", "次女": "30", "grandchild": "40", "孙子": "40", "孙女": "40",
    "外孙子": "40", "外孙女": "40", "parent": "50", "父亲": "50", "母亲": "50",
    "grandparent": "60", "祖父": "60", "祖母": "60", "sibling": "70", "兄": "70", "弟": "70",
    "姐": "70", "妹": "70", "儿媳": "80", "女婿": "80", "relative": "80", "other": "99",
    "unrelated": "99",
}

ORG_TYPES: dict[str, tuple[str, str]] = {
    "enterprise": ("企业", "Enterprise"),
    "individual_business": ("个体工商户", "Individual business"),
    "social_organisation": ("社会组织", "Social organisation"),
    "public_institution": ("事业单位", "Public institution"),
    "government": ("机关", "Government body"),
    "committee": ("基层群众自治组织", "Residents'/villagers' committee"),
    "other": ("其他", "Other"),
}

#: GB 3304 ethnic-group codes [K].
ETHNICITIES: dict[str, str] = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族",
    "07": "彝族", "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族",
    "13": "瑶族", "14": "白族", "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族",
    "19": "黎族", "20": "傈僳族", "21": "佤族", "22": "畲族", "23": "高山族", "24": "拉祜族",
    "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族", "29": "柯尔克孜族",
    "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族", "35": "撒拉族",
    "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族",
    "46": "德昂族", "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族",
    "51": "独龙族", "52": "鄂伦春族", "53": "赫哲族", "54": "门巴族", "55": "珞巴族",
    "56": "基诺族", "97": "其他", "98": "外国血统中国籍人士",
}


#: The same groups in English, in GB 3304's romanised forms (the standard's own Latin
#: names), so that English pages do not show 汉族.
ETHNICITIES_EN: dict[str, str] = {
    "01": "Han", "02": "Mongol", "03": "Hui", "04": "Zang (Tibetan)", "05": "Uygur",
    "06": "Miao", "07": "Yi", "08": "Zhuang", "09": "Buyei", "10": "Chosen (Korean)",
    "11": "Man (Manchu)", "12": "Dong", "13": "Yao", "14": "Bai", "15": "Tujia", "16": "Hani",
    "17": "Kazak", "18": "Dai", "19": "Li", "20": "Lisu", "21": "Va", "22": "She",
    "23": "Gaoshan", "24": "Lahu", "25": "Sui", "26": "Dongxiang", "27": "Naxi",
    "28": "Jingpo", "29": "Kirgiz", "30": "Tu", "31": "Daur", "32": "Mulam", "33": "Qiang",
    "34": "Blang", "35": "Salar", "36": "Maonan", "37": "Gelao", "38": "Xibe", "39": "Achang",
    "40": "Pumi", "41": "Tajik", "42": "Nu", "43": "Uzbek", "44": "Russ", "45": "Ewenki",
    "46": "Deang", "47": "Bonan", "48": "Yugur", "49": "Gin", "50": "Tatar", "51": "Derung",
    "52": "Oroqen", "53": "Hezhen", "54": "Monba", "55": "Lhoba", "56": "Jino",
    "97": "Other", "98": "Foreign-born Chinese citizen",
}


def ethnicity_label(code: str | None, lang: str = "zh") -> str:
    """An ethnicity code (GB 3304) as its name in ``lang``; "" for none, the code itself
    when unknown."""
    if not code:
        return ""
    table = ETHNICITIES if lang.startswith("zh") else ETHNICITIES_EN
    return table.get(code, code)

def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "_")


_INDEXES: dict[tuple[int, int], dict[str, str]] = {}


def _index(
    table: Mapping[str, tuple[str, str]] | Mapping[str, str], aliases: Mapping[str, str] | None
) -> dict[str, str]:
    """normalised spelling → code, built once per (table, aliases): imports look up the
    same few spellings a million times."""
    ident = (id(table), id(aliases))
    index = _INDEXES.get(ident)
    if index is None:
        index = {}
        for alias, code in (aliases or {}).items():
            index[_key(alias)] = code
        for code, labels in table.items():
            names = (labels,) if isinstance(labels, str) else labels
            for n in names:
                index[_key(n)] = code
            index[code.lower()] = code
        _INDEXES[ident] = index
    return index


def parse_code(
    value: str | None,
    table: Mapping[str, tuple[str, str]] | Mapping[str, str],
    aliases: Mapping[str, str] | None = None,
) -> str | None:
    """The stored code for ``value`` given as a code, an English slug or label, or a
    Chinese label (or alias); None for an empty value. Raises ``KeyError`` when unknown."""
    if value is None:
        return None
    if value in table:
        return value
    index = _index(table, aliases)
    code = index.get(value)  # spellings seen before, as given
    if code is not None:
        return code
    raw = str(value).strip()
    if not raw:
        return None
    code = index.get(_key(raw))
    if code is None:
        raise KeyError(raw)
    if len(index) < 10_000:
        index[value] = code
    return code


def parse_ethnicity(value: str | None) -> str | None:
    """"01", "汉族" or "汉" → "01"."""
    if value is None or not str(value).strip():
        return None
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    if raw.isdigit() and raw.zfill(2) in ETHNICITIES:
        return raw.zfill(2)
    for code, name in ETHNICITIES.items():
        if raw in (name, name.removesuffix("族")) and raw:
            return code
    raise KeyError(raw)


def label(table: Mapping[str, tuple[str, str]], code: str | None, lang: str = "zh") -> str:
    if code is None or code not in table:
        return ""
    zh, en = table[code]
    return zh if lang.startswith("zh") else en
