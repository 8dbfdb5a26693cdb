// The units as shipped (pydepot runs with the temporary folder as its storage, so that is writable too): rendered by the built CLI, checked by systemd's own `systemd-analyze verify`
// (which must have nothing to say) and `systemd-analyze security`, and read for what each must hold.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, test } from "vitest";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), "pydepot-systemd-test-"));
const config = join(root, "pydepot.toml");
writeFileSync(config, `[backup]\ndestination = "/srv/backups/pydepot"\n`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `systemd-analyze verify` prints a warning for anything it does not understand, yet exits 0: both must be clean. */
async function verify(unit: string, text: string): Promise<void> {
  const file = join(root, unit);
  writeFileSync(file, text);
  const { stdout, stderr } = await run("/usr/bin/systemd-analyze", ["verify", file]);
  expect(`${stdout}${stderr}`).toBe("");
}

function keys(unit: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) found.set(match[1], [...(found.get(match[1]) ?? []), match[2]]);
  }
  return found;
}

describe("pydepot systemd server", () => {
  test("runs pydepot serve as its user, from its folder, restarting on failure, writing only where pydepot writes", async () => {
    const { stdout: unit } = expectOk(await pydepot(["--config", config, "systemd", "server", "--user", "pydepot", "--working-directory", "/srv/pydepot"], root));
    const found = keys(unit);
    expect(found.get("User")).toEqual(["pydepot"]);
    expect(found.get("Group")).toEqual(["pydepot"]);
    expect(found.get("WorkingDirectory")).toEqual(["/srv/pydepot"]);
    expect(found.get("ExecStart")![0]).toMatch(new RegExp(`^${process.execPath} \\S+/dist/main\\.js --config ${config} serve$`));
    expect(found.get("Restart")).toEqual(["on-failure"]);
    expect(found.get("ReadWritePaths")![0].split(" ")).toEqual(["/srv/pydepot", `-${root}`, "-/srv/backups/pydepot"]);
    for (const [key, value] of Object.entries({ NoNewPrivileges: "yes", ProtectSystem: "strict", PrivateTmp: "yes", CapabilityBoundingSet: "", RestrictSUIDSGID: "yes" })) {
      expect(found.get(key), key).toEqual([value]);
    }
    await verify("pydepot.service", unit);
    const { stdout, stderr } = await run("/usr/bin/systemd-analyze", ["security", "--offline=true", join(root, "pydepot.service")]);
    expect(`${stdout}${stderr}`).toMatch(/Overall exposure level for pydepot\.service: \d\.\d OK/);
  });

  test("refuses a working folder that is not absolute", async () => {
    const result = await pydepot(["systemd", "server", "--working-directory", "srv/pydepot"], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("pydepot: --working-directory must be an absolute path: srv/pydepot\n");
  });
});

describe("pydepot systemd agent", () => {
  test("runs the agent as root with only the capabilities that switching to build users needs", async () => {
    const args = ["systemd", "agent", "--server", "http://pydepot.internal:8080", "--name", "builder-1", "--python", "/opt/python 3.11/bin/python3:wheel", "--build-user", "pybuild"];
    const { stdout: unit } = expectOk(await pydepot(args, root));
    const found = keys(unit);
    expect(found.get("User")).toEqual(["root"]);
    expect(found.get("CapabilityBoundingSet")![0].split(" ").sort()).toEqual(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"]);
    expect(found.get("ExecStart")![0]).toMatch(
      /\/dist\/main\.js agent --server http:\/\/pydepot\.internal:8080 --state-dir \/var\/lib\/pydepot-agent --name builder-1 --python "\/opt\/python 3\.11\/bin\/python3:wheel" --build-user pybuild$/,
    );
    expect(found.get("StateDirectory")).toEqual(["pydepot-agent"]);
    expect(found.get("Restart")).toEqual(["always"]);
    expect(found.get("EnvironmentFile")).toEqual(["-/etc/pydepot/agent.env"]);
    expect(unit).not.toMatch(/^AmbientCapabilities=/m);
    await verify("pydepot-agent.service", unit);
  });
});
