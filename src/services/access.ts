import { forbidden, notFound, unauthorized, type AppError } from "../core/errors.js";
import { parseProjectName } from "../core/names.js";
import type { Role } from "../core/types.js";
import type { AccountStore } from "../store/accounts.js";
import type { ProjectRow, ProjectStore } from "../store/projects.js";

export type Principal =
  | { kind: "anonymous" }
  | { kind: "user"; userId: number; name: string; isAdmin: boolean }
  /** The operator at the command line: acts as a site admin. */
  | { kind: "system"; name: string }
  /** A build agent: reads everything, writes only its jobs' results (through the farm API). */
  | { kind: "agent"; agentId: number; name: string }
  /**
   * A running build's tools (pip, setuptools): read only, while its job's lease is held, and only
   * what the sdist's uploader may read (`readsAs`): code from an upload reaches no further than
   * its owner.
   */
  | { kind: "build"; jobId: number; name: string; readsAs: Principal }
  /** A running check's installers (pip, easy_install) on its node: read only, as a build reads, while the check runs. */
  | { kind: "check"; checkId: number; name: string; readsAs: Principal };

/** A build's or a check's credential: it reads as another principal, and does nothing else. */
type TaskPrincipal = Extract<Principal, { kind: "build" | "check" }>;

function isTask(principal: Principal): principal is TaskPrincipal {
  return principal.kind === "build" || principal.kind === "check";
}

export const ANONYMOUS: Principal = { kind: "anonymous" };

const RANK: Record<Role, number> = { view: 1, upload: 2, admin: 3 };

export function actorName(principal: Principal): string {
  return principal.kind === "anonymous" ? "anonymous" : principal.name;
}

/** Who may do what: every refusal is a 401 (who are you?) or a 403 (not you) with the reason. */
/** Whether the principal may rebuild, re-check and see the agents (what the web UI offers). */
export function isSiteAdmin(principal: Principal): boolean {
  return principal.kind === "system" || (principal.kind === "user" && principal.isAdmin);
}

export class Access {
  constructor(
    private readonly accounts: AccountStore,
    private readonly projects: ProjectStore,
    private readonly anonymousRead: boolean,
  ) {}

  /** The project named `name` (as typed) for a principal who may read it; one it may not read is as unknown as one that does not exist. */
  readableProject(principal: Principal, name: string): ProjectRow {
    const project = this.projects.byName(parseProjectName(name));
    this.canRead(principal, project, () => notFound(`No project named ${name}`));
    return project;
  }

  /** The project named `name`, if the principal administers it (one it may not read is unknown, as above). */
  administeredProject(principal: Principal, name: string): ProjectRow {
    const project = this.readableProject(principal, name);
    this.canAdminister(principal, project);
    return project;
  }

  /**
   * Whether an answer about a project may go to anyone: not when reads need credentials, where a
   * shared cache (nginx's proxy_cache, a corporate proxy) must keep no reader's answer for another.
   */
  answersArePublic(): boolean {
    return this.anonymousRead;
  }

  canReadIndex(principal: Principal): void {
    if (!this.anonymousRead && principal.kind === "anonymous") {
      throw unauthorized("This index requires authentication: use __token__ and an API token");
    }
  }

  /**
   * With anonymous reads off, a user reads a project when a site admin or holding any role on it.
   * `project` is undefined when the thing asked for does not exist: an unknown and an unreadable
   * project get the same `missing` error, so nobody learns which private names exist. Anonymous
   * callers of a closed index get the 401 first, before any lookup can tell them anything.
   */
  canRead(principal: Principal, project: ProjectRow | undefined, missing: () => AppError): asserts project is ProjectRow {
    this.canReadIndex(principal);
    if (!project || !this.lists(principal, project)) throw missing();
  }

  /** The ids of the projects the principal may read, or "all" (what a list filters by). */
  readableProjects(principal: Principal): number[] | "all" {
    this.canReadIndex(principal);
    if (this.readsEverything(principal)) return "all";
    return principal.kind === "user" ? this.accounts.projectsOf(principal.userId) : [];
  }

  /**
   * A name for the projects the root page lists for the principal: a page cached for one
   * principal may go to another of the same audience only. A build reads as its sdist's uploader.
   */
  audience(principal: Principal): string {
    if (isTask(principal)) return this.audience(principal.readsAs);
    if (this.readsEverything(principal)) return "all";
    return principal.kind === "user" ? `u${principal.userId}` : "none";
  }

  private readsEverything(principal: Principal): boolean {
    return this.anonymousRead || principal.kind === "agent" || principal.kind === "system" || (principal.kind === "user" && principal.isAdmin);
  }

  /** Whether the root page lists this project for the principal. */
  lists(principal: Principal, project: ProjectRow): boolean {
    return this.anonymousRead || this.roleAtLeast(principal, project, "view");
  }

  /** Uploading to an existing project needs the upload role; anyone signed in may create a new one. */
  canUpload(principal: Principal, project: ProjectRow | undefined): asserts principal is Exclude<Principal, { kind: "anonymous" }> {
    if (principal.kind === "anonymous") throw unauthorized("Uploading needs credentials: use __token__ and an API token");
    if (principal.kind === "agent") throw forbidden(`Agent ${principal.name} uploads build results through its job, not the upload API`);
    if (isTask(principal)) throw forbidden(`A ${principal.kind} credential reads the index only`);
    if (project && !this.roleAtLeast(principal, project, "upload")) {
      throw forbidden(`User ${principal.name} may not upload to project ${project.name}: ask a project admin for the upload role`);
    }
  }

  canAdminister(principal: Principal, project: ProjectRow): void {
    if (principal.kind === "anonymous") throw unauthorized("This action needs credentials: use __token__ and an API token");
    if (!this.administers(principal, project)) {
      throw forbidden(`${actorName(principal)} is not an admin of project ${project.name}`);
    }
  }

  /** Whether the principal may yank, unyank and waive in this project (what the web UI offers). */
  administers(principal: Principal, project: ProjectRow): boolean {
    return this.roleAtLeast(principal, project, "admin");
  }

  /** The principal as a build agent, or a 401 for anyone else. */
  agent(principal: Principal): Extract<Principal, { kind: "agent" }> {
    if (isTask(principal)) throw forbidden(`A ${principal.kind} credential reads the index only: the farm API is for the agent itself`);
    if (principal.kind !== "agent") throw unauthorized("This endpoint is for build agents: authenticate with the agent's token");
    return principal;
  }

  requireSiteAdmin(principal: Principal): void {
    if (principal.kind === "anonymous") throw unauthorized("This action needs credentials: use __token__ and an API token");
    if (!isSiteAdmin(principal)) {
      throw forbidden(`${actorName(principal)} is not a site admin`);
    }
  }


  /**
   * Who stored a file, as a principal that reads what they may read now: a user by name (a user
   * since removed reads nothing private), or the operator for `cli:` imports.
   */
  uploaderOf(uploader: string): Principal {
    if (uploader.startsWith("cli:")) return { kind: "system", name: uploader };
    const user = this.accounts.userByName(uploader);
    return user ? { kind: "user", userId: user.id, name: user.name, isAdmin: user.isAdmin } : ANONYMOUS;
  }

  private roleAtLeast(principal: Principal, project: ProjectRow, wanted: Role): boolean {
    if (principal.kind === "anonymous") return false;
    if (isTask(principal)) return wanted === "view" && this.roleAtLeast(principal.readsAs, project, "view");
    if (principal.kind === "agent") return wanted === "view";
    if (principal.kind === "system" || principal.isAdmin) return true;
    const role = this.accounts.role(project.id, principal.userId);
    return role !== undefined && RANK[role] >= RANK[wanted];
  }
}
