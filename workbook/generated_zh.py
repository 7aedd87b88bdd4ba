"""The Chinese of what the generators write: the benchmark results page and the tables inserted
into pages ([[bench-...]], [[bench:...]], [[cis:...]]), in the zh build. PHRASES holds each
English fragment exactly as the generator writes it (the fixed parts of its f-strings) with its
Chinese; `localize` replaces them, longest first, in generated text only: never in a page written
by hand, never in a diff. tests/test_generated_zh.py fails when generated Chinese text still has
an English sentence, so that a sentence added to a generator comes with its Chinese."""

from __future__ import annotations

PHRASES: dict[str, str] = {
    # --- the results page: heading, measuring conditions, older or missing results ----------------
    "# Benchmark results": "# 基准测试结果",
    "No measurements yet: run `make bench` to make them on your machine.":
        "尚无测量结果：运行 `make bench`，在你自己的机器上测量。",
    "The results in `bench/results.json` (measured on ": "`bench/results.json` 中的结果（测量于 ",
    ") predate ": "）早于",
    "the current benchmark, which measures each load apart, stage 04's variants in pairs and the "
    "database's transactions (see [the method]":
        "当前的基准测试：它分别测量每种负载，成对比较阶段 04 的各个变体，并统计数据库的事务（见[测量方法]",
    "): run `make bench` to measure them again.": "）。运行 `make bench` 重新测量。",
    "Measured by `make bench` (": "由 `make bench`（",
    " run) on ": " 模式）测量于 ",
    " cores (": " 个核心（",
    "), Docker Engine ": "），Docker Engine ",
    "; wrk with ": "；wrk 使用 ",
    " thread(s) and ": " 个线程、",
    " connections for ": " 个连接，持续 ",
    " s per run, ": " s（每次运行），每个数字取 ",
    " run(s) per figure, shown as median (min – max). The method is on [the benchmarks page]":
        " 次运行，以中位数（最小值 – 最大值）表示。测量方法见[基准测试页面]",
    '"Offline stand-ins"': '"离线替身镜像"',
    "These figures were measured with the offline stand-ins of ":
        "这些数字是用以下镜像的离线替身镜像测得的：",
    " (see [Offline images]": "（见[离线镜像]",
    "); sizes differ a little from the official images.": "）；镜像大小与官方镜像略有不同。",
    # --- gates -----------------------------------------------------------------------------------
    "## Gates": "## 门限",
    "The gates of `bench/config.toml` (`[thresholds]`), checked on this run.":
        "`bench/config.toml` 中的门限（`[thresholds]`），在本次运行中检查。",
    "| Gate | Figure | Value | Limit | |": "| 门限 | 数字 | 值 | 界限 | |",
    "**fail**": "**未通过**",
    "| pass |": "| 通过 |",
    "tested, passed": "已测试，通过",
    "tested, failed": "已测试，**未通过**",
    "not measured": "未测量",
    "failed requests, every load run": "失败的请求，所有负载运行",
    "links acknowledged (201) but lost, ": "已确认（201）但丢失的链接，",
    "visits lost, ": "丢失的访问，",
    # --- requests per second, latency ----------------------------------------------------------
    "## Requests per second, each load apart": "## 每秒请求数，每种负载分别测量",
    "Each load on its own, median (min – max) of the runs; the redirect of one link writes one hot row in "
    "every stage whose redirect counts the visit in the database, the redirect over many links spreads the "
    "same writes over many rows.":
        "每种负载单独测量，取各次运行的中位数（最小值 – 最大值）；在重定向时把访问计入数据库的阶段里，"
        "一个链接的重定向每次都写同一个热点行，多链接重定向则把同样的写入分散到许多行上。",
    "| Stage ": "| 阶段 ",
    "Ceiling `GET /healthz`": "上限 `GET /healthz`",
    "Read `GET /api/links/<code>`": "读取 `GET /api/links/<code>`",
    "Redirect `GET /<code>` (one link)": "重定向 `GET /<code>`（一个链接）",
    "Write `POST /api/links`": "写入 `POST /api/links`",
    "Redirect over many links": "多链接重定向",
    "Static file `GET /static/app.js`, nginx": "静态文件 `GET /static/app.js`，经 nginx",
    "Static file `GET /static/app.js`, gunicorn directly": "静态文件 `GET /static/app.js`，直连 gunicorn",
    ", visits counted synchronously |": "，同步计数访问 |",
    "### Latency and failed requests": "### 延迟与失败的请求",
    "| Stage | Load | Connections | p50 (ms) | p99 (ms) | Requests | Failed requests |":
        "| 阶段 | 负载 | 连接数 | p50 (ms) | p99 (ms) | 请求数 | 失败的请求 |",
    "Requests per second, ceiling and read": "每秒请求数：上限与读取",
    '"req/s"': '"请求/秒"',
    # --- stage 04's variants in pairs (pairs.py) ----------------------------------------------------
    ": variants in pairs": "：成对比较的变体",
    "Each pair ran interleaved, ": "每个配对交错运行 ",
    " repetitions (in this order: ": " 轮重复（顺序依次为：`",
    "); the ratio is A/B in requests per second, the median of the repetitions' ratios (min – max). "
    "The control pair must fall within ":
        "`）；比值是 A 与 B 的每秒请求数之比（A/B），取各轮重复比值的中位数（最小值 – 最大值）。"
        "对照组必须落在 ",
    ", or the run is void.": " 之内，否则本次运行作废。",
    "| Pair | What it measures | A | B | A/B | A req/s | B req/s |":
        "| 配对 | 测量的是什么 | A | B | A/B | A 请求/秒 | B 请求/秒 |",
    "the same variant twice (the cached redirect): the method's own noise":
        "同一个变体测两次（已缓存的重定向）：方法本身的噪声",
    "the Redis cache: the redirect's target from Redis against from PostgreSQL":
        "Redis 缓存：从 Redis 取重定向目标，对比从 PostgreSQL 取",
    "visits counted in Redis and moved in batches against an UPDATE per redirect":
        "在 Redis 中计数访问并分批搬运，对比每次重定向执行一次 UPDATE",
    "nginx in front of gunicorn against gunicorn directly": "gunicorn 前面有 nginx，对比直连 gunicorn",
    "Redis stopped against the cache switched off: the breaker makes a dead Redis cost (almost) nothing":
        "Redis 已停止，对比关闭缓存：有了熔断器，挂掉的 Redis（几乎）没有代价",
    "Each variant's proof, from its first run: the headers of one answer before the load, and how far "
    "web's counters moved during it (against the requests wrk counted).":
        "每个变体的证明，取自它的第一次运行：负载之前一次响应的响应头，以及负载期间 web 的计数器"
        "增长了多少（对照 wrk 统计的请求数）。",
    "| Run | Variant | X-Cache | X-Visits | Requests | Counters moved |":
        "| 运行 | 变体 | X-Cache | X-Visits | 请求数 | 计数器的增长 |",
    "through nginx, cache on, visits batched via Redis (as shipped)":
        "经过 nginx，缓存开启，访问经 Redis 分批计数（按原样交付）",
    "straight to gunicorn's port, cache on, visits batched":
        "直接发往 gunicorn 的端口，缓存开启，访问分批计数",
    "through nginx, cache off (CACHE_TTL_SECONDS=0), visits batched":
        "经过 nginx，缓存关闭（CACHE_TTL_SECONDS=0），访问分批计数",
    "through nginx, cache on, each visit an UPDATE in PostgreSQL (VISIT_COUNTING=sync)":
        "经过 nginx，缓存开启，每次访问在 PostgreSQL 中执行一次 UPDATE（VISIT_COUNTING=sync）",
    "through nginx, Redis stopped: the circuit breaker skips it, the lookup goes to PostgreSQL and visits "
    "wait in the workers' memory":
        "经过 nginx，Redis 已停止：熔断器跳过它，查找转向 PostgreSQL，访问暂存在工作进程的内存中",
    # --- PostgreSQL transactions ----------------------------------------------------------------
    "## PostgreSQL transactions per 1,000 redirects": "## 每 1,000 次重定向的 PostgreSQL 事务数",
    "`xact_commit + xact_rollback` of the `links` database in `pg_stat_database`, before and after the "
    "redirect load (stage 04 as shipped: cached, visits batched).":
        "`pg_stat_database` 中 `links` 数据库的 `xact_commit + xact_rollback`，在重定向负载前后读取"
        "（阶段 04 按原样交付：已缓存，访问分批计数）。",
    "| Stage | Redirects | Transactions | Per 1,000 redirects |":
        "| 阶段 | 重定向数 | 事务数 | 每 1,000 次重定向 |",
    "Ratio: ": "比值：",
    # --- the load generator and the containers ------------------------------------------------------
    "## The load generator and the containers": "## 负载生成器与容器",
    "wrk's CPU time over the run's wall time (100% = one core busy all along: wrk, not the stack, would "
    "then be the limit); per container, the share of CPU periods in which its CPU limit throttled it, and "
    "its peak memory (MiB) from its cgroup.":
        "wrk 的 CPU 时间除以本次运行的墙钟时间（100% 表示一个核心全程满负荷：这时瓶颈是 wrk，而不是栈）；"
        "按容器统计：CPU 限制使它被限流的 CPU 周期所占的比例，以及从其 cgroup 读取的内存峰值（MiB）。",
    "| Stage | Load | wrk CPU | Throttled periods | Peak memory (MiB) |":
        "| 阶段 | 负载 | wrk CPU | 被限流的周期 | 内存峰值 (MiB) |",
    "no CPU limit": "无 CPU 限制",
    "Peak memory was reset before each run: it is the peak under that load.":
        "每次运行之前都重置了内存峰值：它就是该负载下的峰值。",
    "Peak memory could not be reset before every run here: where not, it is the container's peak since it "
    "started (start-up included).":
        "这里无法在每次运行之前都重置内存峰值：未能重置时，它是容器启动以来的峰值（包括启动过程）。",
    # --- image size, build time, start-up -----------------------------------------------------------
    "## Image size": "## 镜像大小",
    "| Stage | Size (MB) | Layers | Floor (MB) | Over the floor (MB) | vs. first stage |":
        "| 阶段 | 大小 (MB) | 镜像层 | 下限 (MB) | 超出下限 (MB) | 相对于第一个阶段 |",
    "The floor is the base image plus the installed Python packages plus the app: what the image cannot "
    "do without. Everything over it is weight a later stage can remove.":
        "下限是基础镜像加上已安装的 Python 包再加上应用：镜像必不可少的部分。超出下限的一切，"
        "都是后面的阶段可以去掉的分量。",
    "Image size (MB)": "镜像大小 (MB)",
    "## Build time": "## 构建时间",
    "| Stage | Cold build (s) | Rebuild after a code change (s) | "
    "Same, code copied before dependencies (s) |":
        "| 阶段 | 冷构建 (s) | 改动代码后的重新构建 (s) | 同上，但在依赖之前复制代码 (s) |",
    "## Start-up": "## 启动",
    "| Stage | `compose up` to first 200 (s) | to healthy (s) |":
        "| 阶段 | `compose up` 到第一个 200 (s) | 到 healthy (s) |",
    # --- gunicorn workers (workers.py) --------------------------------------------------------------
    "## gunicorn workers": "## gunicorn 工作进程",
    "No worker sweep in these results yet: `make bench` measures it, or "
    "`.venv/bin/workbook bench --only workers` alone.":
        "这些结果中还没有工作进程扫描：`make bench` 会测量它，也可以单独运行 "
        "`.venv/bin/workbook bench --only workers`。",
    "The redirect, on ": "测量重定向：在 ",
    " (through nginx, cached) with `GUNICORN_WORKERS` set to each count in turn: wrk with ":
        " 上（经过 nginx，已缓存）依次把 `GUNICORN_WORKERS` 设为每个数量：wrk 使用 ",
    " s, ": " s，每个数字取 ",
    " runs per figure, measured on ": " 次运行，测量于 ",
    "`cores` is ": "`cores` 为 ",
    "web's CPU limit, rounded up": "web 的 CPU 限制，向上取整",
    "the machine's CPUs (web has no CPU limit)": "本机的 CPU 数，web 没有 CPU 限制",
    "This machine has ": "本机有 ",
    " cores": " 个核心",
    ", and the stage's compose.yaml limits web to ": "，该阶段的 compose.yaml 把 web 限制为 ",
    "; unset, the stage runs `": "；未设置时，该阶段运行 `",
    " workers (marked default below). Why that default is chosen is explained in the stage's README; "
    "these are the figures behind it.":
        " 个工作进程（下表中标为默认）。为什么选择这个默认值，该阶段的 README 中有解释；"
        "这些就是它背后的数字。",
    "| Workers | Formula | Requests/s | vs. best | p50 (ms) | p99 (ms) | Failed requests "
    "| Peak memory of web (MiB) |":
        "| 工作进程 | 公式 | 请求/秒 | 相对于最佳 | p50 (ms) | p99 (ms) | 失败的请求 "
        "| web 的内存峰值 (MiB) |",
    " (default)": "（默认）",
    "Requests per second by gunicorn workers": "每秒请求数，按 gunicorn 工作进程数",
    "Peak memory of web by gunicorn workers (MiB)": "web 的内存峰值，按 gunicorn 工作进程数 (MiB)",
    # --- rolling update (rollout.py) ---------------------------------------------------------------
    "## Rolling update": "## 滚动更新",
    "No rolling update in these results yet: `make bench` measures it, or "
    "`.venv/bin/workbook bench --only rollout` alone.":
        "这些结果中还没有滚动更新：`make bench` 会测量它，也可以单独运行 "
        "`.venv/bin/workbook bench --only rollout`。",
    "'s pipeline rolls out a new release (build, push, `docker stack deploy`) to ":
        " 的流水线把一个新版本（构建、推送、`docker stack deploy`）滚动更新到 ",
    " web replicas while wrk, with ": " 个 web 副本上，同时 wrk 使用 ",
    " s, follows a short link through the entry point; measured on ": " s，经入口请求一个短链接；测量于 ",
    ". The update's duration is Swarm's own (the service's UpdateStatus, start to completion): start-first, "
    "one replica at a time, each healthy before the next.":
        "。更新耗时取自 Swarm 自己的记录（服务的 UpdateStatus，从开始到完成）：start-first，"
        "每次一个副本，每个副本都先变为健康，再轮到下一个。",
    "| Release | Update took (s) | Requests during the load | Requests/s | Failed requests |":
        "| 版本 | 更新耗时 (s) | 负载期间的请求数 | 请求/秒 | 失败的请求 |",
    # --- the fault matrix (faults.py) ----------------------------------------------------------------
    "## Faults": "## 故障",
    "No fault matrix in these results yet: `make bench` measures it, or "
    "`.venv/bin/workbook bench --only faults` alone.":
        "这些结果中还没有故障矩阵：`make bench` 会测量它，也可以单独运行 "
        "`.venv/bin/workbook bench --only faults`。",
    "(The fault matrix is not measured yet: `make bench`.)": "（故障矩阵尚未测量：运行 `make bench`。）",
    "Steady traffic (4 threads following one cached link, one link created every 0.2 s, through the entry "
    "point on 127.0.0.1), one fault at a time, ":
        "稳定的流量（4 个线程跟随同一个已缓存的链接，每 0.2 s 创建一个链接，经 127.0.0.1 上的入口），"
        "每次一个故障，每个故障前后各有 ",
    "of traffic before and after each. *Recovery* is the time from the fault until a redirect, a read and "
    "a write all answer again; *links lost* counts links that got a 201 and are not readable afterwards; "
    "*visits lost* compares the redirects served with PostgreSQL's count once the mover has moved "
    "everything, against the bound the stage's README states.":
        "的流量。*恢复时间*是从故障发生到重定向、读取和写入都重新得到响应的时间；*丢失的链接*统计"
        "得到了 201、之后却读不回来的链接；*丢失的访问*在 mover 搬运完所有访问之后，把已处理的重定向数"
        "与 PostgreSQL 的计数相比较，并对照该阶段 README 给出的界限。",
    ", under ": "，编排器：",
    "| Fault | Requests | Failed | Which | Recovery (s) | Links lost | Visits lost (bound) |":
        "| 故障 | 请求数 | 失败数 | 失败的请求 | 恢复时间 (s) | 丢失的链接 | 丢失的访问（界限） |",
    "kill -9 of one gunicorn worker (the master forks a new one)":
        "对一个 gunicorn 工作进程执行 `kill -9`（主进程会 fork 出一个新的）",
    "kill -9 of web's main process, a crash (Docker's restart policy starts it again)":
        "对 web 的主进程执行 `kill -9`，即一次崩溃（由 Docker 的重启策略重新启动它）",
    "docker compose restart db": "`docker compose restart db`",
    "docker compose restart redis (a cache without persistence: it comes back empty)":
        "`docker compose restart redis`（没有持久化的缓存：回来时是空的）",
    "docker compose restart nginx": "`docker compose restart nginx`",
    "kill -9 of the visit mover in the middle of a batch (PostgreSQL paused so that it holds one), "
    "then PostgreSQL resumed":
        "在访问搬运进程（mover）搬运一批的中途对它执行 `kill -9`（先暂停 PostgreSQL，让它手里正好有一批），"
        "然后恢复 PostgreSQL",
    "kill -9 of one web task's main process, a crash (Swarm starts a new task)":
        "对一个 web 任务的主进程执行 `kill -9`，即一次崩溃（Swarm 会启动一个新任务）",
    "docker service update --force of db (Swarm replaces its task)":
        "对 db 执行 `docker service update --force`（Swarm 会替换它的任务）",
    "docker service update --force of redis (it comes back empty)":
        "对 redis 执行 `docker service update --force`（回来时是空的）",
    "docker restart of the entry point's container": "对入口的容器执行 `docker restart`",
    # --- one node against three (cluster.py) ------------------------------------------------------
    "## One node against three": "## 一个节点对比三个节点",
    "(One node against three is not measured yet: `make bench`, or "
    "`.venv/bin/workbook bench --only cluster` alone.)":
        "（一个节点对比三个节点尚未测量：运行 `make bench`，或单独运行 "
        "`.venv/bin/workbook bench --only cluster`。）",
    "(One node against three is not measured yet: `make bench`.)":
        "（一个节点对比三个节点尚未测量：运行 `make bench`。）",
    "Measured on ": "于 ",
    " by `make bench`: ": " 由 `make bench` 测得：每一边 ",
    " web replicas on each side; wrk with ": " 个 web 副本；wrk 使用 ",
    "s follows a short link through the entry point during each change; ":
        "s，在每次变更期间经入口请求一个短链接；",
    " rounds, the two sides taking turns. Median (min – max).":
        " 轮，两边轮流进行。中位数（最小值 – 最大值）。",
    "| Figure | One node | Three nodes |": "| 数字 | 一个节点 | 三个节点 |",
    "| Rolling update of the release, Swarm's own time (s) | ":
        "| 版本的滚动更新，Swarm 自己记录的时间 (s) | ",
    "| Its time on three nodes over one, round by round | | ":
        "| 三个节点与一个节点的耗时之比，逐轮计算 | | ",
    "| Failed requests during the updates | ": "| 更新期间失败的请求 | ",
    "| A node crashed: seen down by the managers after (s) | – | ":
        "| 一个节点崩溃：管理节点发现它宕机所用的时间 (s) | – | ",
    "| A node crashed: three replicas running again after (s) | – | ":
        "| 一个节点崩溃：三个副本重新运行所用的时间 (s) | – | ",
    "| A node crashed: failed requests | – | ": "| 一个节点崩溃：失败的请求 | – | ",
    "| The node powered on: rejoined after (s) | – | ": "| 该节点重新开机：重新加入集群所用的时间 (s) | – | ",
    "read errors": "读取错误",
    "timeouts": "超时",
    # --- pip's cache mount (buildcache.py) ---------------------------------------------------------
    "## pip's cache mount": "## pip 的缓存挂载",
    "(The cache mount is not measured yet: `make bench`, or "
    "`.venv/bin/workbook bench --only buildcache` alone.)":
        "（缓存挂载尚未测量：运行 `make bench`，或单独运行 `.venv/bin/workbook bench --only buildcache`。）",
    "(The cache mount is not measured yet: `make bench`.)": "（缓存挂载尚未测量：运行 `make bench`。）",
    " by `make bench`: stage ": " 由 `make bench` 测得：阶段 ",
    " built with its Dockerfile and with the cache mount taken out (`--no-cache-dir` instead), the two "
    "taking turns, ":
        " 分别用它自己的 Dockerfile 和去掉缓存挂载的版本（改用 `--no-cache-dir`）构建，两边轮流进行，各 ",
    " times each; seconds per build, median (min – max), and the ratio of the two, build by build.":
        " 次；每次构建的秒数，取中位数（最小值 – 最大值），以及两者之比，逐次构建计算。",
    "| Build | With the cache mount (s) | Without (s) | With over without | pip's files, with / without |":
        "| 构建 | 有缓存挂载 (s) | 无缓存挂载 (s) | 有 / 无之比 | pip 的文件，有 / 无 |",
    "After a change of `requirements.txt` (the steps before it cached)":
        "改动 `requirements.txt` 之后（它之前的步骤已缓存）",
    "Cold, `--no-cache` (every step runs, `apt-get` too)":
        "冷构建，`--no-cache`（每个步骤都运行，`apt-get` 也不例外）",
    " downloaded, ": " 个下载，",
    " from its cache": " 个取自缓存",
    "On the machine that measured this, pip took nothing from its cache, mount or not: the package index's "
    "answers reached it without cache headers (`Cache-Control`), and pip keeps only the downloads they "
    "allow (the run checked: the same file downloaded twice into one cache was downloaded twice). The "
    "mount can save nothing there; where the index's answers allow caching, as the public index's do, its "
    "files come from the mount.":
        "在测量这些数字的机器上，无论有没有缓存挂载，pip 都没有从缓存中取到任何文件：包索引的应答到达时"
        "不带缓存头（`Cache-Control`），而 pip 只保留这些头允许保留的下载（本次运行核对过：同一个文件往"
        "同一个缓存里下载两次，两次都是真正的下载）。在那台机器上，缓存挂载什么也省不下；在包索引的应答"
        "允许缓存的地方（公共索引就是如此），文件会来自缓存挂载。",
    # --- a first run (firstrun.py) -----------------------------------------------------------------
    "## A first run": "## 第一次运行",
    "(The first run is not measured yet: `make bench`, or "
    "`.venv/bin/workbook bench --only firstrun` alone.)":
        "（第一次运行尚未测量：运行 `make bench`，或单独运行 `.venv/bin/workbook bench --only firstrun`。）",
    "(The first run is not measured yet: `make bench`.)": "（第一次运行尚未测量：运行 `make bench`。）",
    " by `make bench` (`workbook bench --only firstrun`), apart from the measuring machine's caches: the "
    "virtual environment installed with pip's cache off, and stage ":
        " 由 `make bench`（`workbook bench --only firstrun`）测得，不受测量机器上各种缓存的影响："
        "安装虚拟环境时关闭 pip 的缓存；阶段 ",
    " built and started on a fresh engine, which holds nothing but the official images (no build cache).":
        " 在一个全新的引擎上构建并启动，这个引擎上只有官方镜像（没有构建缓存）。",
    "| Step of a first `make start` | Time (s) | Disk (MB) |":
        "| 第一次 `make start` 的步骤 | 时间 (s) | 磁盘 (MB) |",
    "| The workbook's virtual environment `.venv`, from the lock | ":
        "| 本手册的虚拟环境 `.venv`，从锁文件安装 | ",
    "| The official images it runs on (": "| 它所运行的官方镜像 (",
    "downloading them: your network": "下载它们：取决于你的网络",
    " built and started, `docker compose up --build --wait` | ":
        " 构建并启动，`docker compose up --build --wait` | ",
    "| The docs site built | ": "| 构建文档站点 | ",
    "| **Together**, without the downloads | ": "| **合计**，不含下载 | ",
    # --- ratios, and a figure cited in a page ------------------------------------------------------
    "## Ratios": "## 比值",
    "| Ratio | Value |": "| 比值 | 值 |",
    "(not measured yet: `make bench`)": "（尚未测量：运行 `make bench`）",
    # --- the CIS tables (cis.py): the frame, not the CIS benchmark's titles ------------------------
    " checks: ": " 项检查：",
    "tested, ": "已测试，",
    "not applicable, ": "不适用，",
    "not applicable": "不适用",
    "not tested": "未测试",
    "host settings": "宿主机设置",
    "host setting": "宿主机设置",
    ".** Tests passed in the recorded run (": "。** 通过的测试 (记录的运行 ",
    "| Check | Recommendation (CIS Docker Benchmark v1.6.0) | Here |":
        "| 检查项 | 建议（CIS Docker Benchmark v1.6.0） | 本阶段 |",
}


def localize(text: str, language: str) -> str:
    if language != "zh":
        return text
    for english in sorted(PHRASES, key=len, reverse=True):
        text = text.replace(english, PHRASES[english])
    return text
