"""Deterministic sample of the IS community crawlers: real-format JSON files for four boards.

`python -m dag.is_sample --output-dir DIR [--crawl N] [--now ISO-TIME]` writes one file per
site/board (clien/park, ppomppu/hot, fmkorea/best, damoang/free) named
`<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json` (Asia/Seoul time of `now`), body `[{meta, posts}]`
exactly as the Node crawlers write it (ORIGINAL_IS_SS_DS.md 1.1), each file written atomically
(a temporary `.<name>.part` sibling, then `os.replace`) so a folder watcher never reads half a file.

The sample is a small simulated world, the same for a given (crawl, now): crawl N is taken at
`now`, crawl k at `now - (N - k) * 10 minutes`, so successive crawls of the 10-minute schedule
see one consistent history. Between crawls counts grow, comments arrive (reply trees up to four
levels deep), new posts push old ones off the list, some posts are edited (new content_hash),
some lose an image and one in a while loses all of them. Stories are posted on two or three sites
at once: exact reposts and near-duplicates (one or two words changed), sharing images and
embeds, so clustering has something to find. Site quirks as the real crawlers deliver them:
fmkorea has no avatar, dislike_count, category or tags, adds `commentCountHeader`, hashes its
HTML and gives comments their raw id and no plain-text content; ppomppu's list shows views as
text ("1,234"), which the crawler passes through.

Under Dagster Pipes (`is_crawler_executor` runs this module as its embedded default) the run is
reported through `open_dagster_pipes()`: log lines and one materialization with the request
statistics (`requests`, `failures`, `posts`, `files`); the sample fetches nothing, so `requests`
counts the list and detail pages a real crawl of the same posts would have fetched.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import html
import json
import logging
import math
import os
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

logger = logging.getLogger(__name__)

SEOUL = ZoneInfo("Asia/Seoul")  # the crawlers name their files in local time
CRAWL_INTERVAL = timedelta(minutes=10)  # is_crawler_schedule_10min
CRAWLER_VERSION = "2.4.1"
BACKLOG = 30  # posts a board already holds before crawl 0
SHOWN = (15, 27)  # posts listed per crawl; 27 + 3 list pages stay within max_requests 30
NEW_PER_CRAWL = (3, 6)  # new posts per board between two crawls
PER_PAGE = 10
MAX_PAGES = 3
MAX_REQUESTS = 30
MAX_DEPTH = 3  # replies nest up to depth 3: four levels
TEMP_SUFFIX = ".part"  # never *.json: a watcher globbing *.json never sees a file being written


@dataclass(frozen=True)
class Board:
    """One crawled board and the shape of its site's ids, URLs and optional fields."""

    site: str
    board: str
    first_post_id: int
    post_id_step: int  # mean distance between two posts of the board's hot list
    categories: tuple[str, ...]  # empty: the site has no category (null, or absent on fmkorea)
    tag_pool: tuple[str, ...]  # empty: tags are always []
    html_hash: bool = False  # content_hash = md5(contentHtml) (fmkorea)
    minimal: bool = False  # fmkorea: no avatar, dislike_count, category, tags; commentCountHeader
    views_as_text: bool = False  # ppomppu: view_count as shown on the page ("1,234")

    @property
    def key(self) -> str:
        return f"{self.site}_{self.board}"

    def url(self, post_id: str) -> str:
        return {
            "clien": f"https://www.clien.net/service/board/park/{post_id}",
            "ppomppu": f"https://www.ppomppu.co.kr/zboard/view.php?id=freeboard&no={post_id}",
            "fmkorea": f"https://www.fmkorea.com/best/{post_id}",
            "damoang": f"https://damoang.net/free/{post_id}",
        }[self.site]


BOARDS: tuple[Board, ...] = (
    Board("clien", "park", 18_950_000, 60, (), ()),
    Board(
        "ppomppu",
        "hot",
        9_650_000,
        80,
        ("자유게시판", "유머/감동", "휴대폰포럼", "쇼핑포럼", "여행포럼"),
        (),
        views_as_text=True,
    ),
    Board("fmkorea", "best", 8_123_400_000, 5_000, (), (), html_hash=True, minimal=True),
    Board(
        "damoang",
        "free",
        3_420_000,
        45,
        ("잡담", "정보", "질문", "유머"),
        ("일상", "정보공유", "뉴스", "IT", "주식", "게임", "음식", "여행", "육아", "자동차"),
    ),
)
SITES = tuple(board.site for board in BOARDS)

# --- vocabulary (fixed; nouns are Hangul so particles follow the final consonant) --------------
NOUNS = (
    "아이폰 갤럭시 노트북 모니터 키보드 태블릿 이어폰 충전기 냉장고 세탁기 에어컨 자동차 전기차 "
    "배터리 자전거 지하철 버스 택시 비행기 기차표 월급 연봉 보너스 적금 주식 코스피 환율 금리 "
    "부동산 전세 월세 대출 회사 팀장님 야근 회식 점심 치킨 라면 김치찌개 떡볶이 커피 아메리카노 "
    "편의점 마트 택배 배송 쿠폰 할인 특가 고양이 강아지 아이 부모님 친구 동생 축구 야구 농구 "
    "게임 드라마 영화 유튜브 넷플릭스 웹툰 여행 제주도 캠핑 날씨 장마 태풍 미세먼지 출근길 "
    "퇴근길 면접 이직 시험 자격증 병원 치과 헬스장 다이어트 운동화 중고거래 당근마켓 요금제 "
    "알뜰폰 인터넷 공유기 선풍기 전기요금 가스요금 선거 뉴스 사진 영상"
).split()
PLACES = "회사 집 편의점 마트 지하철 카페 공원 백화점 터미널 병원 식당 공항 학교 은행".split()
ADVERBS = "정말 너무 오늘 드디어 갑자기 요즘 방금 결국 역시 솔직히 그냥 진심".split()
# Near-duplicates swap one adverb for a synonym: the sentence stays grammatical.
SYNONYMS = {
    "정말": "진짜",
    "너무": "엄청",
    "오늘": "금일",
    "드디어": "마침내",
    "갑자기": "급작스럽게",
    "요즘": "최근",
    "방금": "아까",
    "결국": "끝내",
    "역시": "확실히",
    "솔직히": "사실",
    "그냥": "괜히",
    "진심": "완전",
}
PAST_VERBS = (
    "샀습니다 봤어요 먹었습니다 팔았어요 바꿨습니다 신청했어요 예약했습니다 찾았어요 "
    "잃어버렸어요 받았습니다 비교해봤어요 환불했습니다 고쳤어요 정리했습니다"
).split()
REMARKS = (
    "생각보다 괜찮네요",
    "정말 대단하네요",
    "너무 비싸졌어요",
    "가성비가 좋습니다",
    "역시 최고입니다",
    "좀 아쉽네요",
    "완전 미쳤네요",
    "이해가 안 됩니다",
    "다들 어떻게 생각하세요",
    "기대 이상이었습니다",
)
FEELINGS = (
    "잠을 못 잤어요",
    "기분이 좋네요",
    "머리가 아픕니다",
    "웃음이 나옵니다",
    "화가 납니다",
    "눈물이 나네요",
    "걱정이 많습니다",
)
COMMENT_LINES = (
    "ㅋㅋㅋ 이거 실화인가요",
    "저도 같은 생각입니다",
    "정보 감사합니다",
    "와 대박이네요",
    "이건 좀 아닌 것 같아요",
    "출처가 어디인가요",
    "추천 누르고 갑니다",
    "저도 어제 똑같은 일이 있었어요",
    "댓글 보러 왔습니다",
    "이게 맞나요 진짜",
    "부럽습니다 축하드려요",
    "그래서 결론이 뭔가요",
)
NICK_HEADS = (
    "배고픈 졸린 행복한 퇴근하는 익명의 용감한 조용한 부산 서울 제주 월요일 반짝이는".split()
)
NICK_TAILS = "고양이 다람쥐 개발자 직장인 아저씨 자취생 펭귄 곰돌이 감자 호랑이 여우 나그네".split()
EDIT_LEADS = ("추가)", "수정)", "+ 내용 추가:", "[수정]")


# --- deterministic randomness -------------------------------------------------------------------
def _rng(*parts: object) -> random.Random:
    """A generator seeded by `parts` (str seeds are hashed with SHA-512: the same in every
    process, unlike `hash()`)."""
    return random.Random("/".join(str(part) for part in parts))


def _hex(length: int, *parts: object) -> str:
    digest = hashlib.sha256("/".join(str(part) for part in parts).encode()).hexdigest()
    return (digest * (1 + length // 64))[:length]


def crawler_id(site: str, board: str, post_id: str) -> str:
    """The crawlers' post id: first 16 hex digits of md5(`<site>-<board>-<post_id>`)."""
    return hashlib.md5(f"{site}-{board}-{post_id}".encode()).hexdigest()[:16]


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def iso_utc(moment: datetime) -> str:
    """`2025-01-02T03:04:05.678Z`: UTC with milliseconds, as JavaScript's toISOString."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def file_name(board: Board, now: datetime) -> str:
    """`<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json` in Asia/Seoul time, as the crawlers name it."""
    return f"{board.key}_{now.astimezone(SEOUL):%Y-%m-%d_%H-%M-%S}.json"


# --- Korean text --------------------------------------------------------------------------------
def _has_final(word: str) -> bool:
    """Whether the last Hangul syllable of `word` ends in a consonant (받침)."""
    code = ord(word[-1]) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


def _subject(word: str) -> str:
    return word + ("이" if _has_final(word) else "가")


def _object(word: str) -> str:
    return word + ("을" if _has_final(word) else "를")


def _topic(word: str) -> str:
    return word + ("은" if _has_final(word) else "는")


def _and(word: str) -> str:
    return word + ("과" if _has_final(word) else "와")


def _sentence(rng: random.Random) -> str:
    noun, other = rng.sample(NOUNS, 2)
    adverb = rng.choice(ADVERBS)
    template = rng.randrange(6)
    if template == 0:
        return f"{adverb} {_object(noun)} {rng.choice(PAST_VERBS)}."
    if template == 1:
        return f"{adverb} {_topic(noun)} {rng.choice(REMARKS)}."
    if template == 2:
        return f"{_and(noun)} {other} 중에 {adverb} 뭐가 나을까요?"
    if template == 3:
        return f"{adverb} {rng.choice(PLACES)}에서 {_object(noun)} {rng.choice(PAST_VERBS)}."
    if template == 4:
        return f"{noun} 때문에 {adverb} {rng.choice(FEELINGS)}."
    return f"{adverb} {_subject(noun)} {other}보다 {rng.choice(REMARKS)}."


def _paragraphs(rng: random.Random, sentences: int) -> list[str]:
    lines: list[str] = []
    while sentences > 0:
        take = min(sentences, rng.randint(1, 3))
        lines.append(" ".join(_sentence(rng) for _ in range(take)))
        sentences -= take
    return lines


def _title(rng: random.Random) -> str:
    noun, other = rng.sample(NOUNS, 2)
    shapes = (
        f"{rng.choice(ADVERBS)} {_object(noun)} {rng.choice(PAST_VERBS).rstrip('.')}",
        f"{noun} {rng.choice(REMARKS)}",
        f"{_and(noun)} {other} 비교 후기",
        f"{noun} 근황.jpg",
        f"{rng.choice(PLACES)}에서 본 {noun}",
        f"{noun} 질문 하나만 드려요",
    )
    return rng.choice(shapes)


def _nickname(rng: random.Random) -> str:
    tail = str(rng.randint(1, 99)) if rng.random() < 0.3 else ""
    return rng.choice(NICK_HEADS) + rng.choice(NICK_TAILS) + tail


def near_duplicate(text: str, words: int, seed: object) -> str:
    """`text` with `words` (1 or 2) adverbs swapped for a synonym, far apart from each other."""
    tokens = text.split(" ")
    swappable = [i for i, token in enumerate(tokens) if token in SYNONYMS]
    if not swappable:
        raise ValueError(f"near_duplicate: no swappable word in {text[:40]!r}")
    rng = _rng("near", seed)
    if words == 1 or len(swappable) == 1:
        chosen = [rng.choice(swappable)]
    else:  # one from each half: the changed shingles do not overlap
        half = len(swappable) // 2
        chosen = [rng.choice(swappable[:half]), rng.choice(swappable[half:])]
    for i in chosen:
        tokens[i] = SYNONYMS[tokens[i]]
    return " ".join(tokens)


# --- media ---------------------------------------------------------------------------------------
def _site_image(board: Board, post_id: str, n: int, created: datetime) -> str:
    local = created.astimezone(SEOUL)
    token = _hex(32, board.key, post_id, "img", n)
    return {
        "clien": f"https://edgio.clien.net/F01/{post_id}/{token[:16]}.jpg",
        "ppomppu": (
            f"https://cdn2.ppomppu.co.kr/zboard/data3/{local:%Y/%m%d}/"
            f"{local:%Y%m%d%H%M%S}_{token[:8]}.jpeg"
        ),
        "fmkorea": f"https://image.fmkorea.com/files/attach/new5/{local:%Y%m%d}/{post_id}/{token}.jpg",
        "damoang": f"https://damoang.net/data/editor/{local:%y%m}/{token[:20]}.png",
    }[board.site]


def _shared_image(*seed: object) -> str:
    """An image hosted outside the sites (reposts share it: gallery signatures match)."""
    token = _hex(15, "shared", *seed)
    if int(token[0], 16) % 2:
        return f"https://pbs.twimg.com/media/G{token}.jpg"
    return f"https://i.imgur.com/{token[:7]}.png"


def _video_id(*seed: object) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rng = _rng("yt", *seed)
    return "".join(rng.choice(alphabet) for _ in range(11))


def _embed(kind: str, rng: random.Random, *seed: object) -> dict[str, Any]:
    """One `embeddedContent` entry of the crawlers: youtube, X, video or an image iframe."""
    if kind == "youtube":
        video = _video_id(*seed)
        return {
            "type": "youtube",
            "url": f"https://www.youtube.com/watch?v={video}",
            "provider": "YouTube",
            "videoId": video,
            "thumbnail": f"https://i.ytimg.com/vi/{video}/hqdefault.jpg",
            "title": _title(rng),
            "description": "",
            "mimeType": None,
        }
    if kind == "X":
        status = str(10**18 + int(_hex(15, "x", *seed), 16) % (9 * 10**18))
        handle = rng.choice(("news_kr", "daily_meme", "tech_today", "kbo_fan", "weather_kr"))
        host = rng.choice(("x.com", "x.com", "twitter.com"))
        return {
            "type": "X",
            "url": f"https://{host}/{handle}/status/{status}",
            "provider": "X",
            "videoId": None,
            "thumbnail": None,
            "title": f"{handle} on X",
            "description": _sentence(rng),
            "mimeType": None,
        }
    if kind == "video":
        return {
            "type": "video",
            "url": f"https://video.twimg.com/ext_tw_video/{_hex(19, 'v', *seed)}/vid/720x1280.mp4",
            "provider": None,
            "videoId": None,
            "thumbnail": None,
            "title": None,
            "description": None,
            "mimeType": "video/mp4",
        }
    token = _hex(7, "gif", *seed)
    return {  # an animated image in an iframe: image/* mime, queued for image enrichment
        "type": "iframe",
        "url": f"https://i.imgur.com/{token}.gif",
        "provider": "imgur",
        "videoId": None,
        "thumbnail": f"https://i.imgur.com/{token}h.jpg",
        "title": None,
        "description": None,
        "mimeType": "image/gif",
    }


def _random_embeds(rng: random.Random, *seed: object) -> list[dict[str, Any]]:
    embeds = []
    for n, (kind, chance) in enumerate(
        (("youtube", 0.2), ("X", 0.12), ("video", 0.05), ("iframe", 0.05))
    ):
        if rng.random() < chance:
            embeds.append(_embed(kind, rng, *seed, n))
    return embeds


# --- stories: one text posted on several sites ---------------------------------------------------
@dataclass(frozen=True)
class Story:
    """A story posted on several boards: the original on the first, reposts or near-duplicates
    (`near1`, `near2`: one or two words changed) on the others."""

    key: str
    placements: tuple[tuple[str, str], ...]  # (site, variant)

    def variant(self, site: str) -> str | None:
        return dict(self.placements).get(site)


# Stories already on the boards at crawl 0, at backlog positions BACKLOG - 1 - 3 * n.
BACKLOG_STORIES = (
    Story("b0", (("clien", "original"), ("damoang", "repost"))),
    Story("b1", (("ppomppu", "original"), ("fmkorea", "near1"))),
    Story("b2", (("fmkorea", "original"), ("clien", "repost"), ("ppomppu", "near2"))),
    Story("b3", (("damoang", "original"), ("ppomppu", "near1"))),
)


@cache
def crawl_story(k: int) -> Story:
    """The story that breaks between crawls k - 1 and k: the first new post of its boards."""
    rng = _rng("story-sites", k)
    sites = rng.sample(SITES, rng.choice((2, 2, 3)))
    variants = [rng.choice(("repost", "near1", "near2")) for _ in sites[1:]]
    return Story(f"c{k}", ((sites[0], "original"), *zip(sites[1:], variants, strict=True)))


@dataclass(frozen=True)
class StoryText:
    """A story's shared text and media."""

    title: str
    paragraphs: tuple[str, ...]
    images: tuple[str, ...]
    embeds: tuple[dict[str, Any], ...]


@cache
def story_text(key: str) -> StoryText:
    """Long enough (about 130 words) that two changed words keep text Jaccard near 0.8."""
    rng = _rng("story", key)
    paragraphs = _paragraphs(rng, rng.randint(18, 22))
    images = tuple(_shared_image(key, n) for n in range(rng.randint(1, 3)))
    embeds = (_embed("youtube", rng, key),) if rng.random() < 0.5 else ()
    return StoryText(_title(rng), tuple(paragraphs), images, embeds)


# --- one board's simulated history ---------------------------------------------------------------
@dataclass(frozen=True)
class _Comment:
    number: int  # 0-based order of arrival in the post
    parent: int | None
    depth: int
    at: datetime
    author: str
    text: str
    like_rate: float


@dataclass(frozen=True)
class _Post:
    """What a post is before the crawl-dependent parts (counts, edits, lost images)."""

    index: int
    post_id: str
    created: datetime
    title: str
    paragraphs: tuple[str, ...]
    images: tuple[str, ...]
    embeds: tuple[dict[str, Any], ...]
    author: str
    avatar: str | None
    category: str | None
    tags: tuple[str, ...]
    views_per_minute: float
    like_rate: float
    dislike_rate: float
    comments: tuple[_Comment, ...]
    deleted_comments: int


@dataclass(frozen=True)
class _State:
    edits: int
    images_dropped: int
    all_images_dropped: bool


class BoardHistory:
    """One board seen by crawls 0..`crawl`, crawl k taken at `now - (crawl - k) * 10 min`."""

    def __init__(self, board: Board, crawl: int, now: datetime) -> None:
        self.board = board
        self.crawl = crawl
        self.origin = now - crawl * CRAWL_INTERVAL
        # arrivals[k] = posts the board holds at crawl k (the backlog, then a few new per crawl)
        self.arrivals = [BACKLOG]
        for k in range(1, crawl + 1):
            self.arrivals.append(
                self.arrivals[-1] + _rng(board.key, "new", k).randint(*NEW_PER_CRAWL)
            )
        self._posts: dict[int, _Post] = {}
        self._events: dict[int, dict[int, tuple[str, ...]]] = {}

    def crawl_time(self, k: int) -> datetime:
        return self.origin + k * CRAWL_INTERVAL

    def shown(self, k: int) -> range:
        """Indices of the posts crawl k lists (the newest `SHOWN` of them)."""
        count = _rng(self.board.key, "shown", k).randint(*SHOWN)
        return range(max(0, self.arrivals[k] - count), self.arrivals[k])

    def arrival(self, index: int) -> int:
        """The crawl that first listed post `index` (0 for the backlog)."""
        return bisect.bisect_right(self.arrivals, index)

    def post_id(self, index: int) -> str:
        step = self.board.post_id_step
        jitter = int(_hex(8, self.board.key, "pid", index), 16) % (step // 3)
        return str(self.board.first_post_id + index * step + jitter)

    def created(self, index: int) -> datetime:
        rng = _rng(self.board.key, "created", index)
        if index < BACKLOG:  # every 7 minutes or so before crawl 0
            return (
                self.origin
                - (BACKLOG - index) * timedelta(minutes=7)
                + timedelta(seconds=rng.randint(0, 360))
            )
        k = self.arrival(index)
        first, count = self.arrivals[k - 1], self.arrivals[k] - self.arrivals[k - 1]
        slot = (index - first + 1) / (count + 1)  # evenly between crawl k - 1 and crawl k
        return (
            self.crawl_time(k - 1) + slot * CRAWL_INTERVAL - timedelta(seconds=rng.randint(0, 20))
        )

    def story(self, index: int) -> tuple[Story, str] | None:
        """The story (and variant) post `index` carries, if any."""
        site = self.board.site
        if index < BACKLOG:
            for n, story in enumerate(BACKLOG_STORIES):
                if index == BACKLOG - 1 - 3 * n and story.variant(site):
                    return story, story.variant(site) or ""
            return None
        k = self.arrival(index)
        story = crawl_story(k)
        variant = story.variant(site)
        return (story, variant) if variant and index == self.arrivals[k - 1] else None

    def post(self, index: int) -> _Post:
        if index not in self._posts:
            self._posts[index] = self._make_post(index)
        return self._posts[index]

    def _make_post(self, index: int) -> _Post:
        board = self.board
        rng = _rng(board.key, "post", index)
        post_id = self.post_id(index)
        created = self.created(index)
        carried = self.story(index)
        if carried:
            story, variant = carried
            text = story_text(story.key)
            paragraphs = list(text.paragraphs)
            if variant.startswith("near"):
                swapped = near_duplicate(
                    "\n".join(paragraphs), int(variant[-1]), (story.key, board.site)
                )
                paragraphs = swapped.split("\n")
            title = text.title if variant != "repost" else rng.choice(("", "(펌) ")) + text.title
            images = list(text.images)
            embeds = list(text.embeds)
        else:
            paragraphs = _paragraphs(rng, rng.randint(2, 8))
            title = _title(rng)
            images = [
                _site_image(board, post_id, n, created)
                for n in range(rng.choice((0, 0, 0, 1, 1, 2, 3, 4, 5)))
            ]
            embeds = _random_embeds(rng, board.key, post_id)
        # Crawl 1 always has a post losing one image (BACKLOG - 2) and one losing all (- 3).
        minimum = {BACKLOG - 2: 3, BACKLOG - 3: 1}.get(index, 0)
        images += [_site_image(board, post_id, n, created) for n in range(len(images), minimum)]
        tags = () if not board.tag_pool else tuple(rng.sample(board.tag_pool, rng.randint(0, 3)))
        has_avatar = not board.minimal and rng.random() < 0.6
        return _Post(
            index=index,
            post_id=post_id,
            created=created,
            title=title,
            paragraphs=tuple(paragraphs),
            images=tuple(images),
            embeds=tuple(embeds),
            author=_nickname(rng),
            avatar=self._avatar(post_id) if has_avatar else None,
            category=rng.choice(board.categories) if board.categories else None,
            tags=tags,
            views_per_minute=rng.uniform(3.0, 40.0),
            like_rate=rng.uniform(0.005, 0.05),
            dislike_rate=rng.uniform(0.0, 0.2),
            comments=self._comments(index, created),
            deleted_comments=rng.choice((0, 0, 0, 1, 2)),
        )

    def _avatar(self, seed: str) -> str:
        token = _hex(12, self.board.key, "avatar", seed)
        return {
            "clien": f"https://edgio.clien.net/nick/{token}.png",
            "ppomppu": f"https://cdn.ppomppu.co.kr/zboard/member_icon/{token[:8]}.gif",
            "damoang": f"https://damoang.net/data/member_image/{token[:2]}/{token}.gif",
        }.get(self.board.site, "")

    def _comments(self, index: int, created: datetime) -> tuple[_Comment, ...]:
        """Every comment the post will ever get, in order of arrival (a parent always first).
        The first three form a reply chain, so a post a few minutes old has three levels."""
        rng = _rng(self.board.key, "comments", index)
        total = int(5 + rng.random() ** 2 * 55)
        comments: list[_Comment] = []
        at = created + timedelta(minutes=rng.uniform(1, 4))
        for number in range(total):
            if number in (1, 2):
                parent: int | None = number - 1
            elif number > 2 and rng.random() < 0.35:
                open_parents = [c.number for c in comments if c.depth < MAX_DEPTH]
                parent = rng.choice(open_parents)
            else:
                parent = None
            depth = 0 if parent is None else comments[parent].depth + 1
            line = rng.choice(COMMENT_LINES)
            text = line if rng.random() < 0.5 else f"{line} {_sentence(rng)}"
            comments.append(
                _Comment(number, parent, depth, at, _nickname(rng), text, rng.uniform(0.0, 3.0))
            )
            gap = rng.expovariate(1 / 4) * (1 + number / 8) if number >= 2 else rng.uniform(0.5, 3)
            at += timedelta(minutes=gap, seconds=5)
        return tuple(comments)

    # -- events between crawls: edits and lost images ----------------------------------------
    def events(self, k: int) -> dict[int, tuple[str, ...]]:
        """What happened to listed posts between crawls k - 1 and k (k >= 1). A function of the
        board and k only, never of earlier state, so every crawl agrees on the history."""
        if k not in self._events:
            rng = _rng(self.board.key, "events", k)
            both = sorted(set(self.shown(k - 1)) & set(self.shown(k)))
            happened: dict[int, list[str]] = {}
            for index in rng.sample(both, min(len(both), rng.randint(1, 2))):
                happened.setdefault(index, []).append("edit")
            several = [i for i in both if len(self.post(i).images) >= 2]
            if several:
                happened.setdefault(rng.choice(several), []).append("drop_image")
            if k % 3 == 1:
                some = [
                    i
                    for i in both
                    if self.post(i).images and "drop_image" not in happened.get(i, [])
                ]
                if some:
                    happened.setdefault(rng.choice(some), []).append("drop_all_images")
            self._events[k] = {i: tuple(kinds) for i, kinds in happened.items()}
        return self._events[k]

    def state(self, index: int, k: int) -> _State:
        edits = dropped = 0
        dropped_all = False
        for step in range(self.arrival(index) + 1, k + 1):
            kinds = self.events(step).get(index, ())
            edits += kinds.count("edit")
            dropped += kinds.count("drop_image")
            dropped_all = dropped_all or "drop_all_images" in kinds
        return _State(edits, dropped, dropped_all)

    # -- rendering ---------------------------------------------------------------------------
    def render_post(self, index: int, k: int) -> dict[str, Any]:
        """Post `index` as crawl k's file holds it (keys in the crawlers' order)."""
        board, post = self.board, self.post(index)
        at = self.crawl_time(k)
        state = self.state(index, k)
        paragraphs = list(post.paragraphs)
        for n in range(state.edits):
            rng = _rng(board.key, "edit", index, n)
            paragraphs.append(f"{rng.choice(EDIT_LEADS)} {_sentence(rng)}")
        images = [] if state.all_images_dropped else list(post.images[state.images_dropped :])
        content = "\n".join(paragraphs)
        content_html = _content_html(paragraphs, images, post.embeds)
        minutes = max(0.0, (at - post.created).total_seconds() / 60)
        views = int(post.views_per_minute * (minutes + 5) ** 0.85)
        likes = int(views * post.like_rate)
        comments = [c for c in post.comments if c.at <= at]
        item: dict[str, Any] = {
            "id": crawler_id(board.site, board.board, post.post_id),
            "post_id": post.post_id,
            "url": board.url(post.post_id),
            "site": board.site,
            "board": board.board,
            "title": post.title,
            "author": post.author,
            "avatar": post.avatar,
            "category": post.category,
            "tags": list(post.tags),
            "timestamp": iso_utc(post.created),
            "crawledAt": iso_utc(at),
            "view_count": f"{views:,}" if board.views_as_text else views,
            "like_count": likes,
            "dislike_count": int(likes * post.dislike_rate),
            "comment_count": len(comments),
            "image_count": len(images),
            "embed_count": len(post.embeds),
            "content": content,
            "contentHtml": content_html,
            "content_hash": md5_hex(content_html if board.html_hash else content),
            "images": images,
            "embeddedContent": [dict(embed) for embed in post.embeds],
            "comments": self._comment_tree(post, comments, at),
        }
        if board.minimal:
            for absent in ("avatar", "dislike_count", "category", "tags"):
                del item[absent]
            item["commentCountHeader"] = len(comments) + (post.deleted_comments if comments else 0)
        return item

    def _comment_tree(
        self, post: _Post, comments: Sequence[_Comment], at: datetime
    ) -> list[dict[str, Any]]:
        board = self.board
        by_number: dict[int, dict[str, Any]] = {}
        roots: list[dict[str, Any]] = []
        for comment in comments:
            raw_id = (
                str(int(post.post_id) + 1 + comment.number * 13)
                if board.minimal
                else str(int(_hex(6, board.key, post.post_id, "cid"), 16) * 100 + comment.number)
            )
            own_id = (
                raw_id if board.minimal else f"{board.site}-{board.board}-{post.post_id}_{raw_id}"
            )
            parent = by_number[comment.parent] if comment.parent is not None else None
            escaped = html.escape(comment.text)
            age_hours = (at - comment.at).total_seconds() / 3600
            likes = int(comment.like_rate * math.log1p(age_hours * 6) * 4)
            dislikes = int(likes * 0.1)
            node: dict[str, Any] = {
                "id": own_id,
                "author": comment.author,
                "avatar": None if board.minimal else self._avatar(comment.author),
                "content": None if board.minimal else comment.text,
                "html": (
                    f'<div class="xe_content">{escaped}</div>'
                    if board.minimal
                    else f"<p>{escaped}</p>"
                ),
                "raw": comment.text,
                "timestamp": iso_utc(comment.at),
                "isReply": comment.depth > 0,
                "depth": comment.depth,
                "parentId": parent["id"] if parent else None,
                "likeCount": likes,
                "dislikeCount": dislikes,
                "reactionCount": likes + dislikes,
                "replies": [],
            }
            by_number[comment.number] = node
            (parent["replies"] if parent else roots).append(node)
        return roots

    def render(self) -> dict[str, Any]:
        """The file body of crawl `self.crawl`: `{meta, posts}` (the file holds a list of one)."""
        k = self.crawl
        listed = list(reversed(self.shown(k)))  # newest first, as the hot lists show them
        posts = [self.render_post(index, k) for index in listed]
        previous_newest = self.post_id(self.arrivals[k - 1] - 1) if k > 0 else None
        meta = {
            "site": self.board.site,
            "board": self.board.board,
            "crawled_at": iso_utc(self.crawl_time(k)),
            "crawler_version": CRAWLER_VERSION,
            "total_posts": len(posts),
            "pages_crawled": math.ceil(len(posts) / PER_PAGE),
            "crawl_config": {
                "mode": "incremental",
                "max_pages": MAX_PAGES,
                "max_requests": MAX_REQUESTS,
                "incremental": True,
                "last_stop_id": previous_newest,
            },
        }
        return {"meta": meta, "posts": posts}


def _content_html(
    paragraphs: Sequence[str], images: Sequence[str], embeds: Sequence[dict[str, Any]]
) -> str:
    """Paragraphs with the images between them, then the embeds, as the boards' editors do."""
    parts: list[str] = []
    for n, paragraph in enumerate(paragraphs):
        parts.append(f"<p>{html.escape(paragraph)}</p>")
        if n < len(images):
            parts.append(f'<p><img src="{html.escape(images[n])}" alt=""></p>')
    parts.extend(
        f'<p><img src="{html.escape(url)}" alt=""></p>' for url in images[len(paragraphs) :]
    )
    for embed in embeds:
        url = html.escape(embed["url"])
        if embed["type"] == "youtube":
            parts.append(
                f'<iframe src="https://www.youtube.com/embed/{embed["videoId"]}"></iframe>'
            )
        elif embed["type"] == "X":
            parts.append(f'<blockquote class="twitter-tweet"><a href="{url}"></a></blockquote>')
        elif embed["type"] == "video":
            parts.append(f'<video src="{url}" controls></video>')
        else:
            parts.append(f'<iframe src="{url}"></iframe>')
    return "".join(parts)


# --- files ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrawlStats:
    """What one sample crawl did, as the crawler reports it."""

    files: tuple[Path, ...]
    posts: int
    requests: int  # list pages + detail pages a real crawl of these posts would fetch
    failures: int = 0


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)  # no zone = UTC


def crawl_bodies(crawl: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """File name -> JSON body (`[{meta, posts}]`) of crawl `crawl` taken at `now`."""
    if crawl < 0:
        raise ValueError(f"is_sample: crawl must be >= 0, got {crawl}")
    now = _aware(now)
    return {file_name(board, now): [BoardHistory(board, crawl, now).render()] for board in BOARDS}


def encode(body: list[dict[str, Any]]) -> bytes:
    """The file bytes: UTF-8 JSON indented by two, as the crawlers' JSON.stringify writes it."""
    return json.dumps(body, ensure_ascii=False, indent=2).encode()


def render_crawl(crawl: int, now: datetime) -> dict[str, bytes]:
    """File name -> exact bytes of crawl `crawl` taken at `now` (no zone = UTC)."""
    return {name: encode(body) for name, body in crawl_bodies(crawl, now).items()}


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a `.<name>.<random>.part` sibling (never matching
    *.json), flushed to disk, then renamed over `path`."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed below, renamed, not deleted)
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX, delete=False
    )
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # a temporary file is private (0600); the crawl file is not
        os.replace(temp, path)
    finally:  # an interrupted write leaves no temporary file behind (the error still raises)
        temp.unlink(missing_ok=True)


def sample_files(output_dir: Path) -> list[Path]:
    """The files of the four sample boards already in `output_dir`."""
    if not output_dir.is_dir():
        return []
    return sorted(p for board in BOARDS for p in output_dir.glob(f"{board.key}_*.json"))


def next_crawl(output_dir: Path) -> int:
    """The crawl number to take next: sample files present / 4 (one file per board per crawl)."""
    return len(sample_files(output_dir)) // len(BOARDS)


def sample_crawl(output_dir: Path, crawl: int, now: datetime) -> list[Path]:
    """Write crawl `crawl` taken at `now` into `output_dir`: one file per board, atomically."""
    return list(run_sample(output_dir, crawl, now).files)


def run_sample(
    output_dir: Path, crawl: int, now: datetime, log: logging.Logger = logger
) -> CrawlStats:
    """`sample_crawl` with its statistics; one log line per file written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    posts = requests = 0
    for name, body in crawl_bodies(crawl, now).items():
        path = output_dir / name
        write_atomic(path, encode(body))
        count, pages = body[0]["meta"]["total_posts"], body[0]["meta"]["pages_crawled"]
        posts += count
        requests += count + pages
        written.append(path)
        log.info("wrote %s: %d posts from %d list pages", path.name, count, pages)
    return CrawlStats(files=tuple(written), posts=posts, requests=requests)


def under_pipes() -> bool:
    """Whether a Dagster Pipes session started this process (its bootstrap variables are set)."""
    return PipesEnvVarParamsLoader().is_dagster_pipes_process()


def _parse_now(text: str) -> datetime:
    return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def main(argv: Sequence[str] | None = None) -> CrawlStats:
    """The command line; under Dagster Pipes the statistics are reported as a materialization."""
    parser = argparse.ArgumentParser(prog="python -m dag.is_sample", description=__doc__)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--crawl", type=int, help="crawl number (default: sample files / 4)")
    parser.add_argument("--now", type=_parse_now, help="crawl time, ISO 8601 (default: now)")
    args = parser.parse_args(argv)
    crawl = next_crawl(args.output_dir) if args.crawl is None else args.crawl
    now = args.now or datetime.now(UTC).replace(microsecond=0)
    if not under_pipes():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        stats = run_sample(args.output_dir, crawl, now)
        logger.info("sample crawl %d: %d posts in %d files", crawl, stats.posts, len(stats.files))
        return stats
    with open_dagster_pipes() as pipes:
        stats = run_sample(args.output_dir, crawl, now, log=pipes.log)
        pipes.report_asset_materialization(
            metadata={
                "requests": stats.requests,
                "failures": stats.failures,
                "posts": stats.posts,
                "files": len(stats.files),
                "crawl": crawl,
            }
        )
    return stats


if __name__ == "__main__":
    result = main()
    print(f"is_sample: {result.posts} posts, {len(result.files)} files, {result.requests} requests")  # noqa: T201
