"""Deterministic sample of the phone-deal board crawler (ppomppu/phone), in the IS crawler format.

`python -m dag.ss_sample --output-dir DIR [--crawl N] [--now ISO-TIME] [--posts N]` writes one
file `ppomppu_phone_<YYYY-MM-DD>_<HH-MM-SS>.json` (Asia/Seoul time), atomically. Posts are
written the way posters write them: prices as `N만` / `NNNN원`, `현완`, `번이`, `기변`, `공시`,
`선약`, plan fees with months, two-scenario posts (`두번째 ...`), advertorials (카페 가입, 링크,
톡 문의), questions, city and store mentions, and the author answering in the comments.
Same (crawl, now, posts) -> same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dag.is_sample import write_atomic

SEOUL = ZoneInfo("Asia/Seoul")
SITE, BOARD = "ppomppu", "phone"
MODELS = ("S25 울트라", "S25", "아이폰16프로", "아이폰 16", "플립6", "폴드6", "퀀텀6", "A35",
          "아이폰 17 프로", "S24 FE")
CARRIERS = ("SKT", "KT", "LG U+", "알뜰폰", "skt", "kt")
CITIES = ("서울", "부산", "대구", "인천", "광주", "대전", "경기", "제주")
STORES = ("강남점", "신도림점", "해운대점", "동성로점")


def _rng(*parts: object) -> random.Random:
    return random.Random(hashlib.md5("|".join(map(str, parts)).encode()).hexdigest())


def _deal_text(rng: random.Random) -> tuple[str, str]:
    model, carrier = rng.choice(MODELS), rng.choice(CARRIERS)
    gb = rng.choice((128, 256, 512))
    move = rng.choice(("번이", "기변"))
    contract = rng.choice(("공시", "선약"))
    upfront = rng.choice((0, 5, 10, 15, 20, 35, 48))
    fee, months = rng.choice((89000, 99000, 109000, 69000)), rng.choice((3, 6))
    after = rng.choice((45000, 55000, 39000))
    lines = [f"{carrier} {model} {gb}기가 {move} {contract}",
             f"현완 {upfront}만", f"요금제 월 {fee:,}원 {months}개월",
             f"이후 월 {after:,}원 18개월"]
    if rng.random() < 0.4:
        lines.append(f"부가 {rng.choice((1, 2, 4))}개 월 9,900원 3개월")
    if rng.random() < 0.3:
        lines.append(f"지원금 {rng.choice((5, 10, 20))}만")
    return f"{model} {move} 현완 {upfront}만 후기", "\n".join(lines)


def _post(crawl: int, n: int, now: datetime) -> dict[str, Any]:
    rng = _rng("ss", crawl, n)
    kind = rng.choices(("deal", "two", "advertorial", "question", "chat"), (6, 2, 1, 2, 1))[0]
    author = f"폰구매자{rng.randint(1, 300)}"
    title, content = _deal_text(rng)
    comments: list[dict[str, Any]] = []
    if kind == "two":
        _, second = _deal_text(rng)
        content = f"{content}\n두번째 조건\n{second}"
    elif kind == "advertorial":
        title = f"{rng.choice(MODELS)} 최저가 성지 안내"
        content = "네이버 카페 가입 후 링크 클릭! 상담 예약 톡 문의 주세요\n현완 0원 " \
                  f"{rng.choice(CARRIERS)} 번이"
    elif kind == "question":
        title = f"{rng.choice(MODELS)} {rng.choice(CARRIERS)} 이 조건 괜찮은가요?"
        content = "번이로 알아보는 중인데 어디가 좋을까요? 질문드립니다"
    elif kind == "chat":
        title, content = "오늘 개통했습니다", "그냥 기분이 좋네요"
    if kind in ("deal", "two") and rng.random() < 0.6:
        content += f"\n{rng.choice(CITIES)} {rng.choice(STORES)} 방문"
    if rng.random() < 0.85:
        comments.append({"id": f"c{crawl}-{n}-1", "author": f"궁금이{n}", "content": "어디인가요?",
                         "depth": 0, "replies": [
                             {"id": f"c{crawl}-{n}-2", "author": author, "depth": 1,
                              "content": f"{rng.choice(CITIES)}입니다 부가 {rng.randint(0, 3)}개",
                              "replies": []}]})
    posted = now - timedelta(hours=rng.randint(0, 47), minutes=rng.randint(0, 59))
    post_id = str(500_000 + crawl * 1000 + n)
    return {
        "id": hashlib.md5(f"{SITE}-{BOARD}-{post_id}".encode()).hexdigest()[:16],
        "post_id": post_id,
        "url": f"https://www.ppomppu.co.kr/zboard/view.php?id=phone&no={post_id}",
        "site": SITE, "board": BOARD, "title": title, "author": author, "category": "휴대폰",
        "tags": [], "timestamp": posted.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "crawledAt": now.astimezone(UTC).isoformat(), "view_count": f"{rng.randint(10, 9999):,}",
        "like_count": rng.randint(0, 30), "dislike_count": 0,
        "comment_count": sum(1 + len(c["replies"]) for c in comments),
        "image_count": 0, "embed_count": 0, "content": content,
        "contentHtml": "<p>" + content.replace("\n", "<br>") + "</p>",
        "images": [], "embeddedContent": [], "comments": comments,
    }


def render(crawl: int, now: datetime, posts: int = 40) -> tuple[str, bytes]:
    """(file name, bytes) of one sample crawl."""
    local = now.astimezone(SEOUL)
    name = f"{SITE}_{BOARD}_{local:%Y-%m-%d_%H-%M-%S}.json"
    body = [{"meta": {"site": SITE, "board": BOARD, "crawled_at": now.astimezone(UTC).isoformat(),
                      "crawler_version": "1.3.0", "total_posts": posts, "pages_crawled": 2,
                      "crawl_config": {"mode": "full", "hours": 48}},
             "posts": [_post(crawl, n, now) for n in range(posts)]}]
    return name, json.dumps(body, ensure_ascii=False, indent=1).encode()


def sample_crawl(output_dir: Path, crawl: int, now: datetime, posts: int = 40) -> Path:
    """Write one sample crawl file into `output_dir`; its path."""
    name, data = render(crawl, now, posts)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / name
    write_atomic(path, data)
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--crawl", type=int, default=0)
    parser.add_argument("--now", default=None, help="ISO time (default: now)")
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--mode", default="full")  # accepted as the live crawler's options
    parser.add_argument("--hours", type=int, default=48)
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    return sample_crawl(args.output_dir, args.crawl, now if now.tzinfo else now.replace(
        tzinfo=UTC), args.posts)


if __name__ == "__main__":
    main()
