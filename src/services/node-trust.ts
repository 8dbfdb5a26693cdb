import type { NormalizedName } from "../core/types.js";
import type { Settings } from "../settings.js";
import type { CheckStore } from "../store/checks.js";
import { tx, type Db } from "../store/db.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import type { WakeUps } from "../store/wakeups.js";

type NodeSettings = Settings["nodes"][number];

/**
 * Whether a node may be trusted with checks. A check runs untrusted code as the node's login, so
 * a login that can write the interpreters makes every later verdict forgeable: root is refused
 * unless a node allows it (and then warned about), and a node whose interpreter's start-up files
 * or login's files (an added SSH key, ~/.ssh/rc, a shell's start-up file) changed since its probe
 * is quarantined until probed again, its recent verdicts re-queued.
 */
export class NodeTrust {
  constructor(
    private readonly db: Db,
    private readonly store: CheckStore,
    private readonly projects: ProjectStore,
    private readonly history: HistoryStore,
    private readonly wakeUps: WakeUps,
    private readonly nodes: readonly NodeSettings[],
    private readonly now: () => string,
  ) {}

  /** What to say loudly at every start and every probe: nodes whose login is, or may be, root. */
  rootWarnings(onlyNode?: string): string[] {
    return this.nodes
      .filter((node) => (onlyNode === undefined || node.name === onlyNode) && (node.allow_root_login || node.user === "root"))
      .map((node) =>
        node.allow_root_login
          ? `WARNING: node ${node.name} may log in as root (allow_root_login = true): every check there runs untrusted code as root, which can change the interpreters later checks rely on. Log in as an unprivileged user that cannot write them (README: The import checker).`
          : `WARNING: node ${node.name} logs in as root: ${rootRefusal(node)}`,
      );
  }

  /** Why the node may not run checks as the login with this uid, or null when it may. */
  loginRefusal(node: NodeSettings, uid: number | undefined): string | null {
    return uid === 0 && !node.allow_root_login ? rootRefusal(node) : null;
  }

  /** The node's quarantine, naming it, or "" when it may run checks. */
  quarantineOf(node: NodeSettings): string {
    return this.store.quarantineOf(node.name);
  }

  /**
   * No check runs on the node until it is probed again, and every file it verified since the last
   * check that found the changed interpreter as probed goes back to pending (off /simple/) to be
   * checked again. Returns the reason, which names the node and how to end it.
   */
  quarantine(node: NodeSettings, interpreter: string, what: string): string {
    const reason = `node ${node.name} is quarantined: ${what} (clean it, then run \`pydepot node probe ${node.name}\`)`;
    tx(this.db, () => {
      for (const file of this.store.verifiedSinceGoodComparison(node.name, interpreter)) {
        this.store.setVerification(file.fileId, "pending", false);
        this.store.insert(file.fileId, "reverify", this.now());
        this.projects.touch(this.projects.byName(file.project as NormalizedName)!.id);
        this.history.record(this.now(), { actor: `checker:${node.name}`, action: "check.requeued", project: file.project, subject: file.filename, detail: reason });
      }
      this.store.quarantine(node.name, reason, this.now());
    });
    this.wakeUps.notify();
    return reason;
  }

  /** A check that started at `startedAt` found the interpreter as probed. */
  comparedGood(node: NodeSettings, interpreter: string, startedAt: string): void {
    this.store.comparedGood(node.name, interpreter, startedAt);
  }

  /** A fresh probe: the node's start-up files are what it now records. */
  release(node: NodeSettings): void {
    this.store.release(node.name);
  }
}

function rootRefusal(node: NodeSettings): string {
  return `the login ${node.user} is root, and checks run untrusted code as their login: refused unless the node's configuration says allow_root_login = true (README: The import checker)`;
}
