"""The ``doorstep`` command: serve, migrate, demo-data, create-user, verify-ledger, ledger,
plan, maintenance-jobs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import getpass
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from server import wiring
from server.settings import Settings

__all__ = ["main"]


def _cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from server.db.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print(f"database migrated: {_safe_url(settings)}")
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


_LINK = re.compile(r"(/service-reports/)[^/?\s]+")


class RedactAccessLog(logging.Filter):
    """Access-log lines without query strings (a lookup by phone number or address) and
    without customers' report-link tokens (a credential in the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            path = _LINK.sub(r"\1…", str(path).split("?", 1)[0])
            record.args = (client, method, path, version, status)
        return True


def _log_config(level: str) -> dict[str, Any]:
    """Uvicorn's logging, plus the application's own loggers (through the root logger,
    at the same level) and the access-log redaction."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["root"] = {"handlers": ["default"], "level": level.upper()}
    config.setdefault("filters", {})["redact"] = {"()": RedactAccessLog}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    sockets = None
    if args.fd is not None:
        # Built here, not by uvicorn's own ``fd`` option: that one takes every socket for
        # a UNIX one, and asyncio then never turns Nagle off on the TCP connections.
        import socket

        try:
            listener = socket.socket(fileno=args.fd)
        except OSError as exc:
            print(f"error: --fd {args.fd}: {exc}", file=sys.stderr)
            return 2
        sockets = [listener]
        host, port = listener.getsockname()[:2]
    if args.migrate:
        _cmd_migrate(settings, args)
    base = f"http://{host}:{port}"
    print(f"Doorstep serving on {base}")
    print(f"  Console (dispatchers):  {base}/console/")
    print(f"  API docs (interactive): {base}/docs")
    print(f"  OpenAPI schema:         {base}/docs/openapi.json")
    print(f"  Health:                 {base}/health")
    if args.print_logins:
        from fixtures.demo import DEMO_PASSWORD

        print(
            f"  Demo logins (password {DEMO_PASSWORD!r}): admin, dispatcher, auditor, "
            "manager1 (a provider manager), tech1 (a technician)"
        )
        print(
            f"  Try: curl -s -X POST {base}/auth/login -H 'Content-Type: application/json' "
            f'-d \'{{"username": "dispatcher", "password": "{DEMO_PASSWORD}"}}\''
        )
    sys.stdout.flush()
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=args.log_level,
        workers=1,
        access_log=args.access_log,
        log_config=_log_config(args.log_level),
        # Open event streams would otherwise hold a shutdown until their clients leave.
        timeout_graceful_shutdown=5,
        backlog=settings.listen_backlog,
        timeout_keep_alive=settings.keep_alive_s,
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    return 0 if server.started else 1


def _cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from fixtures.loader import load_demo

    loaded, logins = asyncio.run(load_demo(settings, args))
    if not loaded:
        print("demo data: already loaded, nothing done")
        return 0
    print("demo data loaded. Logins:")
    for username, password, what in logins:
        print(f"  {username:<14} {password:<16} {what}")
    return 0


def _cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from server.users.service import create_user_cli

    password = args.password or getpass.getpass("password: ")
    try:
        user_id = asyncio.run(
            create_user_cli(
                settings,
                args.username,
                password,
                args.role,
                args.full_name or args.username,
                args.provider,
                args.skill,
            )
        )
    except Exception as exc:  # a CLI prints the reason, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created user {args.username} ({args.role}) id={user_id}")
    return 0


def _cmd_verify_ledger(settings: Settings, args: argparse.Namespace) -> int:
    """Check the ledger's hash chains and device signatures, then compare them with every
    signed checkpoint in the blob store; exit 1 if anything is wrong (for cron and CI)."""
    import uuid

    from server.app import make_blob_store, make_checkpoint_key
    from server.db.engine import make_database
    from sync.checkpoints import Loaded, attach, load_checkpoints
    from sync.ledger import ChainReport, verify_all, verify_chain

    try:
        device = uuid.UUID(args.device) if args.device else None
        key = make_checkpoint_key(settings, public_keys=args.public_key or (), create=False)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> tuple[list[ChainReport], list[Loaded]]:
        db = make_database(settings.resolved_database_url)
        store = make_blob_store(settings)
        try:
            checkpoints = [] if args.no_checkpoints else await load_checkpoints(store, key)
            async with db.reader() as session:
                if device is not None:
                    reports = [await verify_chain(session, device)]
                else:
                    reports = await verify_all(session)
                devices = None if device is None else {device}
                return await attach(session, reports, checkpoints, devices), checkpoints
        finally:
            await store.close()
            await db.dispose()

    from server.errors import DoorstepError

    try:
        reports, checkpoints = asyncio.run(run())
    except (DoorstepError, OSError) as exc:  # the blob store unreachable, say
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bad_checkpoints = [cp for cp in checkpoints if cp.problem is not None]
    for cp in bad_checkpoints:
        print(f"checkpoint {cp.name}: INVALID: {cp.problem}")
    if checkpoints:
        trusted = len(checkpoints) - len(bad_checkpoints)
        print(f"{trusted} trusted checkpoints, {len(bad_checkpoints)} invalid")
    for r in reports:
        seen = f", seen by {r.checkpoints} checkpoints" if checkpoints else ""
        if r.ok:
            print(f"device {r.device_id}: {r.rows} rows OK{seen}")
        else:
            row = r.first_broken_id or "missing"
            print(
                f"device {r.device_id}: BROKEN at seq {r.first_broken_seq} (row {row}): {r.reason}"
            )
        for m in r.checkpoint_mismatches:
            if m.reason != "checkpoint_invalid":  # printed once above
                print(f"device {r.device_id}: CHECKPOINT {m.reason}: {m.message}")
    if not reports:
        print("no ledger rows")
    fine = all(r.ok and not r.checkpoint_mismatches for r in reports) and not bad_checkpoints
    return 0 if fine else 1


def _cmd_ledger(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger checkpoint``: write a signed checkpoint of every device's chain head to
    the blob store and the log now; ``ledger public-key``: print the public key that
    checks the checkpoints."""
    from server.app import make_blob_store, make_checkpoint_key

    try:
        key = make_checkpoint_key(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.ledger_command == "public-key":
        if key.private is None:
            print("error: checkpoints are signed with HMAC (no public key)", file=sys.stderr)
            return 2
        print(f"ed25519 {key.public_key()} (key id {key.key_id})")
        return 0

    from server.db.base import utcnow
    from server.db.engine import make_database
    from sync.checkpoints import write_checkpoint

    async def run() -> tuple[str, dict[str, Any]]:
        db = make_database(settings.resolved_database_url)
        store = make_blob_store(settings)
        try:
            return await write_checkpoint(db, store, key, utcnow())
        finally:
            await store.close()
            await db.dispose()

    from server.errors import DoorstepError

    try:
        name, document = asyncio.run(run())
    except (DoorstepError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"checkpoint {name}: {len(document['heads'])} devices, signed {document['alg']}")
    return 0


def _cmd_openapi(settings: Settings, args: argparse.Namespace) -> int:
    """Write the OpenAPI document (as served at /docs/openapi.json) without serving."""
    import json

    from litestar.serialization import encode_json

    from server.app import PUBLIC_PATHS, create_app
    from server.openapi import build_document

    document = json.loads(encode_json(build_document(create_app(settings), PUBLIC_PATHS)))
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


def _cmd_risk(settings: Settings, args: argparse.Namespace) -> int:
    """``risk fit``: learn weights from the callback outcomes, cross-validate, print the
    figures and save an inactive weight set; ``risk activate VERSION`` (or ``default``)
    makes the server score with it; ``risk list`` shows the saved ones."""
    from sqlalchemy import select

    from evidence import models
    from evidence.fit import examples, fit, format_report
    from server.db.base import utcnow
    from server.db.engine import make_database
    from server.db.models import RiskModel

    async def run() -> int:
        db = make_database(settings.resolved_database_url)
        try:
            async with db.writer() as s:
                now = utcnow()
                if args.risk_command == "fit":
                    data = await examples(s, now)
                    version = args.version or f"fit-{now:%Y%m%d-%H%M%S}"
                    try:
                        weights, metrics = fit(data, version, folds=args.folds)
                    except ValueError as exc:
                        print(f"error: {exc}", file=sys.stderr)
                        return 1
                    print(format_report(weights, metrics))
                    await models.save(s, weights, metrics, now)
                    print(f"saved {version} (inactive): doorstep risk activate {version}")
                elif args.risk_command == "activate":
                    target = None if args.version == "default" else args.version
                    try:
                        await models.activate(s, target, now)
                    except LookupError:
                        print(f"error: no weight set {args.version!r}", file=sys.stderr)
                        return 2
                    print(f"active risk model: {args.version}")
                else:
                    for row in await s.scalars(select(RiskModel).order_by(RiskModel.created_at)):
                        auc = row.metrics.get("auc")
                        mark = "*" if row.active else " "
                        print(f"{mark} {row.version}  AUC {auc}  {row.created_at:%Y-%m-%d %H:%M}")
                await s.commit()
                return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def _cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """``plan --city CODE --date YYYY-MM-DD``: propose the day's plan (stored, as from the
    API) and print it; ``--accept`` accepts it at once."""
    from datetime import date

    from sqlalchemy import select

    from server.auth.principal import Principal
    from server.context import RequestContext
    from server.db.base import utcnow
    from server.db.engine import make_database
    from server.db.models import City, User
    from server.db.models.user import Role
    from server.dispatch import plans
    from server.errors import DoorstepError

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"error: --date {args.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2

    async def run() -> int:
        db = make_database(settings.resolved_database_url)
        try:
            async with db.writer() as s:
                city = await s.scalar(select(City).where(City.code == args.city))
                if city is None:
                    print(f"error: no city {args.city!r}", file=sys.stderr)
                    return 2
                who = select(User).where(User.active.is_(True))
                who = (
                    who.where(User.username == args.user)
                    if args.user
                    else who.where(User.role == Role.ADMIN).order_by(User.username)
                )
                user = await s.scalar(who.limit(1))
                if user is None:
                    print("error: no such (admin) user to plan as", file=sys.stderr)
                    return 2
                ctx = RequestContext(
                    Principal(user.id, Role(user.role), user.provider_id),
                    settings,
                    source="system",
                    now=utcnow(),
                )
                try:
                    plan = await plans.propose(s, ctx, city.id, day, args.time_limit)
                    if args.accept:
                        plan = await plans.accept(s, ctx, plan.id)
                except DoorstepError as exc:
                    print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
                    return 1
                await s.commit()
                served = sum(len(r["stops"]) for r in plan.routes)  # type: ignore[arg-type,misc]
                print(
                    f"plan {plan.id} ({plan.state}) for {city.code} {day}: {served} visits, "
                    f"{len(plan.unassigned)} unassigned, travel {plan.travel_m / 1000:.1f} km "
                    f"(greedy nearest-free-technician: {plan.baseline_travel_m / 1000:.1f} km, "
                    f"{plan.baseline_served} visits), solved in {plan.solve_s:.1f} s"
                )
                for r in plan.routes:
                    stops: list[dict[str, Any]] = r["stops"]  # type: ignore[assignment]
                    km = float(r["travel_m"]) / 1000  # type: ignore[arg-type]
                    print(f"  {r['technician_name']}: {len(stops)} visits, {km:.1f} km")
                    for st in stops:
                        print(f"    {st['arrive'][11:16]}Z {st['job_number']}")
                for u in plan.unassigned:
                    print(f"  unassigned {u['job_number']}: {u['reason']}")
                if plan.state == "accepted":
                    print(f"accepted: {plan.outcome}")
                return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def _cmd_maintenance_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """``maintenance-jobs``: create the maintenance jobs now due (what the server's
    maintenance loop does every ``DOORSTEP_MAINTENANCE_JOBS_INTERVAL`` seconds)."""
    from datetime import UTC, datetime

    from server.db.base import utcnow
    from server.db.engine import make_database
    from server.maintenance.service import run_periodic

    now = utcnow()
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"error: --now {args.now!r} is not an ISO date-time", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)

    async def run() -> int:
        db = make_database(settings.resolved_database_url)
        try:
            report = await run_periodic(db, now, settings)
        finally:
            await db.dispose()
        print(
            f"scheduled {report.scheduled} appliance services; created {len(report.created)} jobs"
        )
        for number in report.created:
            print(f"  {number}")
        return 0

    return asyncio.run(run())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="doorstep", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the API")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--migrate", action="store_true", help="migrate the database first")
    s.add_argument("--print-logins", action="store_true", help="print the demo logins")
    s.add_argument("--log-level", default="info")
    s.add_argument("--access-log", action="store_true")
    s.add_argument(
        "--fd",
        type=int,
        help="serve on this inherited listening socket instead of --host/--port "
        "(several nodes on one machine sharing one address; the kernel spreads the "
        "connections)",
    )
    s.set_defaults(func=_cmd_serve)

    m = sub.add_parser("migrate", help="bring the database schema up to date")
    m.set_defaults(func=_cmd_migrate)

    d = sub.add_parser("demo-data", help="load a deterministic demo brand")
    d.add_argument("--cities", type=int, default=6)
    d.add_argument("--providers-per-city", type=int, default=2)
    d.add_argument("--technicians-per-provider", type=int, default=4)
    d.add_argument("--customers-per-city", type=int, default=40)
    d.add_argument("--days", type=int, default=7)
    d.add_argument("--jobs-per-technician-per-day", type=int, default=3)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    d.set_defaults(func=_cmd_demo_data)

    u = sub.add_parser("create-user", help="create a user (the first admin, say)")
    u.add_argument("username")
    u.add_argument(
        "--role",
        required=True,
        choices=["admin", "dispatcher", "auditor", "provider_manager", "technician"],
    )
    u.add_argument("--password", help="omit to be asked")
    u.add_argument("--full-name")
    u.add_argument("--provider", help="provider code (provider staff and technicians)")
    u.add_argument("--skill", choices=["junior", "intermediate", "senior"])
    u.set_defaults(func=_cmd_create_user)

    o = sub.add_parser("openapi", help="write the OpenAPI document (JSON) to a file or stdout")
    o.add_argument("--output", "-o", help="file to write (default: stdout)")
    o.set_defaults(func=_cmd_openapi)

    v = sub.add_parser("verify-ledger", help="check the ledger's hash chains (exit 1 if broken)")
    v.add_argument("--device", metavar="DEVICE_ID", help="one device (default: all)")
    v.add_argument(
        "--public-key",
        action="append",
        metavar="BASE64",
        help="also trust checkpoints signed by this Ed25519 public key (repeatable)",
    )
    v.add_argument(
        "--no-checkpoints", action="store_true", help="check the chains only, not the checkpoints"
    )
    v.set_defaults(func=_cmd_verify_ledger)

    lg = sub.add_parser("ledger", help="signed checkpoints of the ledger's chain heads")
    lgs = lg.add_subparsers(dest="ledger_command", required=True)
    lgs.add_parser("checkpoint", help="write a signed checkpoint of every chain head now")
    lgs.add_parser("public-key", help="print the public key that checks the checkpoints")
    lg.set_defaults(func=_cmd_ledger)

    r = sub.add_parser("risk", help="the risk model: fit weights, activate, list")
    rs = r.add_subparsers(dest="risk_command", required=True)
    rf = rs.add_parser("fit", help="learn weights from confirmed/contradicted callbacks")
    rf.add_argument("--version", help="name of the new weight set (default: fit-<time>)")
    rf.add_argument("--folds", type=int, default=5)
    ra = rs.add_parser("activate", help="score with VERSION from now on ('default': shipped)")
    ra.add_argument("version")
    rs.add_parser("list", help="the saved weight sets (* = active)")
    r.set_defaults(func=_cmd_risk)

    pl = sub.add_parser("plan", help="propose (and --accept) the day's plan for a city")
    pl.add_argument("--city", required=True, help="city code")
    pl.add_argument("--date", required=True, help="the local day, YYYY-MM-DD")
    pl.add_argument("--time-limit", type=float, default=10.0, help="solver seconds")
    pl.add_argument("--user", help="plan as this user (default: the first admin)")
    pl.add_argument("--accept", action="store_true", help="accept the plan at once")
    pl.set_defaults(func=_cmd_plan)

    mj = sub.add_parser("maintenance-jobs", help="create the maintenance jobs now due")
    mj.add_argument("--now", help="as if at this ISO date-time (default: now)")
    mj.set_defaults(func=_cmd_maintenance_jobs)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    wiring.install()
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
