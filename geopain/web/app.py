"""The dashboard: FastAPI, server-rendered pages (Jinja2), SVG charts, static files in the package.

Pages: ``/`` runs, ``/runs/{id}`` a run's subjects, alerts and measurements,
``/subjects/{id}`` a subject's score timeline with alert bands, ``/windows/{id}`` one
moment (landmarks, score, status and reason, explanation, snapshot when stored),
``/models`` the models and their calibration when recorded, ``/upload`` a video or a
landmark table to score (with the model given to ``geopain serve --model``, else the newest
run's). With a token, every request needs it (``Authorization: Bearer T``, or ``?token=T``
once, which sets a same-site cookie); 401 without it, 403 when wrong.
"""
from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile  # at module level: FastAPI resolves the handlers' annotations here

from ..errors import SchemeError
from ..media import video_info
from ..species import get_scheme, scale_levels
from ..tasks import canonical_task
from .uploads import SNIFF_BYTES, UploadRefused, check_content, check_name

HERE = Path(__file__).resolve().parent
COOKIE = "geopain_token"
PAGE_SIZE = 50


@dataclass
class UploadJob:
    """One uploaded file being scored in the background."""

    id: str
    name: str
    kind: str
    status: str = "queued"  # queued, running, done, failed
    run_id: int | None = None
    message: str = ""
    started: float = field(default_factory=time.time)


def _y_label(task: str, scheme: str) -> str:
    task = canonical_task(task, warn=False)
    if task == "binary":
        return "p(pain)"
    if task == "levels":
        return f"expected pain level (0-{scale_levels(scheme) - 1})"

    if not scheme:
        return "score"
    try:  # a run stored with a scheme this installation does not know keeps a plain axis
        scale = get_scheme(scheme).pain_scale
    except SchemeError:
        return "score"
    return "score" if scale is None else f"{scale.name} score ({scale.range[0]:g}-{scale.range[1]:g})"


def create_app(store, token: str | None = None, model_dir: str | os.PathLike | None = None,
               upload_dir: str | os.PathLike | None = None, max_upload_mb: float = 500.0):
    """The FastAPI application over an open :class:`geopain.store.Store`.

    Args:
        token: required on every request when given.
        model_dir: the model that scores uploads (default: the newest run's model, if its
            folder exists).
        upload_dir: where accepted uploads are kept (default: ``uploads/`` beside a SQLite
            database, else ``./geopain-uploads``).
        max_upload_mb: larger uploads are refused (413).
    """
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .charts import landmarks_svg, timeline_svg

    app = FastAPI(title="geopain dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["fmt_time"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"
    templates.env.filters["secs"] = lambda ms: f"{int(ms) // 60000}:{int(ms) // 1000 % 60:02d}.{int(ms) % 1000 // 100}"
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    if upload_dir is None:
        db_path = store.engine.url.database if store.dialect == "sqlite" else None
        upload_dir = Path(db_path).parent / "uploads" if db_path and db_path != ":memory:" else Path("geopain-uploads")
    uploads = Path(upload_dir)
    jobs: dict[str, UploadJob] = {}
    lock = threading.Lock()
    limit = int(max_upload_mb * 2**20)

    def page(request: Request, name: str, status: int = 200, **ctx: Any):
        return templates.TemplateResponse(request, name, {"db": store.url, **ctx}, status_code=status)

    def error(request: Request, status: int, message: str):
        if "text/html" in request.headers.get("accept", ""):
            return page(request, "error.html", status=status, status_code=status, message=message)
        return PlainTextResponse(f"{status}: {message}\n", status_code=status)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token")
        source = "query"
        if given is None:
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else None
            source = "header"
        if given is None:
            given = request.cookies.get(COOKIE)
            source = "cookie"
        if given is None:
            return error(request, 401, "this dashboard needs a token: open it with ?token=... or send "
                                       "'Authorization: Bearer ...'")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error(request, 403, "wrong token")
        if source == "query" and request.method == "GET":  # keep it in a cookie, drop it from the address
            resp = RedirectResponse(str(request.url.remove_query_params("token")), status_code=303)
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return resp
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(UploadRefused)
    async def refused(request: Request, exc: UploadRefused):
        return error(request, exc.status, exc.reason)

    def not_found(what: str):
        raise StarletteHTTPException(404, f"no {what} with that id")

    @app.get("/", response_class=HTMLResponse)
    def runs_page(request: Request, page_no: int = 1):
        page_no = max(1, page_no)
        runs = store.runs(limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
        total = store.count_runs()
        return page(request, "runs.html", runs=runs, total=total, page_no=page_no,
                    pages=max(1, -(-total // PAGE_SIZE)))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: int):
        run = store.run(run_id)
        if run is None:
            not_found("run")
        alerts = store.alerts(run_id=run_id)
        label = {s["id"]: s["label"] for s in run["subjects"]}
        for a in alerts:
            a["label"] = label.get(a["subject_id"], "?")
        return page(request, "run.html", run=run, alerts=alerts, model=store.model(run["model_version_id"]))

    @app.get("/subjects/{subject_id}", response_class=HTMLResponse)
    def subject_page(request: Request, subject_id: int):
        subj = store.subject(subject_id)
        if subj is None:
            not_found("subject")
        run = store.run(int(subj["run_id"]))
        model = store.model(run["model_version_id"])
        tl = store.timeline(subject_id, run["model_version_id"])
        alerts = store.alerts(subject_id=subject_id)
        threshold = (run.get("settings") or {}).get("threshold")
        task, scheme = canonical_task(model["task"], warn=False), model["scheme"]
        y_range = {"binary": (0.0, 1.0), "levels": (0.0, scale_levels(scheme) - 1.0)}.get(task)
        if y_range is None:
            cfg = model.get("config") or {}
            rng = cfg.get("score_range") if isinstance(cfg, dict) else None
            if rng:
                y_range = (float(rng[0]), float(rng[1]))
        svg = timeline_svg(tl, alerts, threshold, _y_label(task, scheme), y_range=y_range,
                           link=lambda wid: f"/windows/{wid}", title=f"{subj['label']}: score per window")
        n = len(tl["id"])
        scored = int(tl["scored"].sum())
        return page(request, "subject.html", subject=subj, run=run, model=model, chart=svg, alerts=alerts,
                    n_windows=n, n_scored=scored, threshold=threshold,
                    first=int(tl["id"][0]) if n else None, peak=int(tl["id"][int(_argmax(tl))]) if scored else None)

    @app.get("/windows/{window_id}", response_class=HTMLResponse)
    def window_page(request: Request, window_id: int):
        w = store.window(window_id)
        if w is None:
            not_found("window")
        subj = store.subject(int(w["subject_id"]))
        run = store.run(int(subj["run_id"]))
        tl = store.timeline(int(w["subject_id"]), run["model_version_id"])
        pos = int((tl["id"] == window_id).argmax()) if len(tl["id"]) else 0
        prev_id = int(tl["id"][pos - 1]) if pos > 0 else None
        next_id = int(tl["id"][pos + 1]) if pos + 1 < len(tl["id"]) else None
        svg = None
        lm = w.get("landmarks")
        if lm is not None:
            try:
                sch = get_scheme(lm["scheme"])
                edges, regions = sch.edges, sch.regions
            except Exception:
                edges, regions = None, None
            svg = landmarks_svg(lm["coords"], edges, regions, title=f"frame {lm['frame']} ({lm['scheme']})")
        return page(request, "window.html", w=w, subject=subj, run=run, chart=svg, prev_id=prev_id, next_id=next_id)

    @app.get("/windows/{window_id}/snapshot.jpg")
    def snapshot(window_id: int):
        jpeg = store.snapshot(window_id)
        if jpeg is None:
            not_found("snapshot")
        return Response(jpeg, media_type="image/jpeg")

    @app.get("/models", response_class=HTMLResponse)
    def models_page(request: Request):
        return page(request, "models.html", models=store.models())

    def upload_model() -> Path | None:
        if model_dir is not None:
            return Path(model_dir)
        for r in store.runs(limit=20):
            m = store.model(r["model_id"])
            if m and (Path(m["path"]) / "config.json").is_file():
                return Path(m["path"])
        return None

    @app.get("/upload", response_class=HTMLResponse)
    def upload_form(request: Request):
        with lock:
            listed = sorted(jobs.values(), key=lambda j: -j.started)
        return page(request, "upload.html", model=upload_model(), jobs=listed, max_mb=max_upload_mb)

    @app.post("/upload")
    async def upload(request: Request, file: UploadFile):
        model = upload_model()
        if model is None:
            raise UploadRefused(409, "no model to score uploads with: start 'geopain serve' with --model MODEL_DIR")
        name, ext = check_name(file.filename)
        head = await file.read(SNIFF_BYTES)
        if not head:
            raise UploadRefused(400, f"{name}: the file is empty")
        kind = check_content(name, ext, head)
        job_id = uuid.uuid4().hex[:12]
        folder = uploads / job_id
        tmp = folder / (name + ".part")
        try:
            folder.mkdir(parents=True, exist_ok=False)
            size = len(head)
            with open(tmp, "wb") as f:
                f.write(head)
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise UploadRefused(413, f"{name}: larger than {max_upload_mb:g} MB")
                    f.write(chunk)
            final = folder / name
            _check_readable(tmp, kind, name)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass
            raise
        job = UploadJob(job_id, name, kind)
        with lock:
            jobs[job_id] = job
        threading.Thread(target=_score_upload, args=(store, model, final, job), daemon=True,
                         name=f"geopain-upload-{job_id}").start()
        return RedirectResponse(f"/upload#job-{job_id}", status_code=303)

    @app.get("/upload/{job_id}")
    def upload_status(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            not_found("upload")
        return {"id": job.id, "name": job.name, "status": job.status, "run_id": job.run_id, "message": job.message}

    @app.get("/healthz", response_class=PlainTextResponse)
    def health():
        return "ok\n"

    app.state.jobs = jobs
    app.state.upload_dir = uploads
    return app


def _argmax(tl: dict) -> int:
    import numpy as np

    v = np.where(tl["scored"] & np.isfinite(tl["value"]), tl["value"], -np.inf)
    return int(np.argmax(v))


def _check_readable(path: Path, kind: str, name: str) -> None:
    """Refuse (422) a file of the right type that cannot be read as such."""
    if kind == "table":
        from ..io.tables import read_table

        try:
            seqs = read_table(path)
        except Exception as exc:
            raise UploadRefused(422, f"{name}: not a landmark table geopain can read: {' '.join(str(exc).split())[:200]}") from None
        if not seqs:
            raise UploadRefused(422, f"{name}: the table holds no frames")
    else:
        try:
            info = video_info(path)
        except Exception as exc:
            raise UploadRefused(422, f"{name}: the video cannot be read: {' '.join(str(exc).split())[:200]}") from None
        if not info.n_frames:
            raise UploadRefused(422, f"{name}: the video has no frames")


def _score_upload(store, model_dir: Path, path: Path, job: UploadJob) -> None:
    """Score one accepted upload with the monitor (its own run), recording the outcome in ``job``."""
    from ..monitor import Monitor, open_source

    job.status = "running"
    try:
        monitor = Monitor(store, model_dir, progress=False, torch_threads=None)
        try:
            run_id, stats = monitor.run(open_source(str(path)))
        finally:
            monitor.close()
        job.run_id = run_id
        job.status = "done"
        job.message = f"{stats['windows_scored']} windows scored, {stats['windows_abstained']} abstained"
    except Exception as exc:
        job.status = "failed"
        job.message = " ".join(str(exc).split())[:300]
