// What one build may take of its host, with a real server, a real agent and real builds. The
// build-bombs fixture shows the limits every build command starts with (it cannot write 4 GiB
// here, so it reads them, and meets a file size limit it lowers itself) and attacks: a 9 GiB
// mapping, a fork bomb, a file past its size limit. The build fails saying which limit killed it,
// nothing of it survives, and the agent goes on building. disk-filler writes until it is stopped,
// into an agent work folder on a 64 MiB tmpfs: the agent ends it at the disk reserve. module-bomb
// builds an egg whose "compiled module" is 200 MiB of zeros: the agent will not unpack it for ldd.
// foreign-output replaces its egg with a hard link to a file of root's and adds a symbolic link
// to /etc/shadow: the agent, which reads as root, uploads neither.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Farm, FARM_TEST_TIMEOUT_MS, processesOf } from "../support/farm.js";
import { logText, waitFor } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const eggs = { pythons: [sharedPython("2.7")] };

describe("a build that attacks its host's resources", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let user: string;

  beforeAll(async () => {
    farm = await Farm.start();
    user = (await farm.startAgent("bounded", eggs)).buildUsers[0];
  });

  afterAll(() => farm?.stop());

  test("runs under the process, file, memory and core limits, fails naming the limit it hit, and leaves nothing behind", async () => {
    await farm.upload(await buildSdist("build-bombs"));
    const [job] = await farm.settled("build-bombs", 1);
    const details = await farm.job(job.id);
    const log = logText(details);
    expect(job, log).toMatchObject({ status: "failed", reason: "build killed by SIGXFSZ: File size limit exceeded (each file may grow to 4 GiB)" });
    expect(log).toContain("limits of each build command: 512 processes of the build user");

    const reported = details.log.find((line) => line.text.startsWith("BUILD-BOMBS-LIMITS "));
    expect(reported, log).toBeDefined();
    expect(JSON.parse(reported!.text.slice("BUILD-BOMBS-LIMITS ".length))).toMatchObject({
      RLIMIT_NPROC: [512, 512],
      RLIMIT_FSIZE: [4 * GiB, 4 * GiB],
      RLIMIT_DATA: [8 * GiB, 8 * GiB],
      RLIMIT_CORE: [0, 0],
    });
    expect(log).toContain("build-bombs: mapping 9 GiB failed: Cannot allocate memory");
    const forked = /build-bombs: forked (\d+) children, then fork failed: (.*)/.exec(log);
    expect(forked, log).not.toBeNull();
    expect(Number(forked![1])).toBeLessThan(512);
    expect(forked![2]).toBe("Resource temporarily unavailable");
    expect(log).toContain("build-bombs: writing 2 MiB past a 1 MiB file size limit");
    expect(log).not.toContain("build-bombs: wrote 2 MiB");

    // The sleeping children ended with the build, before its result was reported.
    expect(processesOf(user)).toEqual([]);
    const agent = farm.agents.get("bounded")!;
    expect(agent.process.exitCode).toBeNull();
    expect(agent.output()).not.toContain("cannot end the build");
    await farm.upload(await buildSdist("demo-pkg", { version: "7.0" }));
    const [next] = await farm.settled("demo-pkg", 1);
    expect(next, await farm.describe("demo-pkg")).toMatchObject({ status: "succeeded", agent: "bounded" });
  });

  test("a built file whose compiled modules unpack past the archive budget fails unread: the agent never writes them out", async () => {
    await farm.upload(await buildSdist("module-bomb"));
    const [job] = await farm.settled("module-bomb", 1);
    const log = logText(await farm.job(job.id));
    expect(job.status, log).toBe("failed");
    expect(job.reason).toMatch(/^module_bomb-0\.1-py2\.7[-.a-z0-9_]*\.egg: its compiled modules unpack to more than 64\.0 MiB, too many for its size: not read$/);
    expect(processesOf(user)).toEqual([]);
  });

  test("a build that leaves links to other users' files as its output fails unread: the agent, reading as root, uploads none of them", async () => {
    const target = "/tmp/pydepot-foreign-output-target";
    writeFileSync(target, "root's bytes, not the build's", { mode: 0o666 });
    chmodSync(target, 0o666);
    try {
      await farm.upload(await buildSdist("foreign-output"));
      const [job] = await farm.settled("foreign-output", 1);
      const log = logText(await farm.job(job.id));
      expect(job.status, log).toBe("failed");
      expect(job.reason).toMatch(/^(foreign_output-1\.0-py2\.7\.egg|shadow\.egg) is not a file the build made: a link, or another user's file$/);
      expect(await farm.files("foreign-output")).toEqual(["foreign-output-1.0.tar.gz"]);
    } finally {
      rmSync(target, { force: true });
    }
  });
});

/** True once `folder` is unmounted; undefined while it is busy (a build being swept may still be inside). */
function unmount(folder: string): true | undefined {
  try {
    execFileSync("umount", [folder], { stdio: "ignore" });
    return true;
  } catch {
    return undefined;
  }
}

describe("a build that fills its folder's filesystem", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let user: string;
  let disk = "";
  const freeBytes = () => {
    const { bavail, bsize } = statfsSync(disk);
    return bavail * bsize;
  };

  beforeAll(async () => {
    // Without the reserve the build would write on until this timeout: the test then fails on its reason.
    farm = await Farm.start({ build_timeout_seconds: 120 });
    const folder = join(farm.workRoot, "filler");
    mkdirSync(folder);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m,mode=0711", "pydepot-test-disk", folder]);
    disk = folder;
    user = (await farm.startAgent("filler", eggs)).buildUsers[0];
  });

  afterAll(async () => {
    if (!farm) return;
    if (user) {
      await farm.killAgent("filler");
      await waitFor(`the processes of ${user} to end`, async () => (processesOf(user).length === 0 ? true : undefined));
    }
    if (disk) await waitFor(`${disk} to be unmounted`, async () => unmount(disk));
    await farm.stop();
  });

  test("the agent ends it at the reserve with \"out of disk space\", its folder goes, and the agent builds on", async () => {
    await farm.upload(await buildSdist("disk-filler"));
    const [job] = await farm.settled("disk-filler", 1);
    const log = logText(await farm.job(job.id));
    expect(job.status, log).toBe("failed");
    expect(job.reason).toMatch(new RegExp(`^out of disk space: the build left \\d+\\.\\d MiB free on the filesystem of ${disk}, below the 3\\.2 MiB the agent keeps$`));
    expect(log).toContain("disk-filler: wrote 16 MiB");
    expect(processesOf(user)).toEqual([]);
    await waitFor("the build folder and its space to go", async () => (freeBytes() > 60 * MiB ? true : undefined), { describe: () => `${freeBytes() / MiB} MiB free` });

    await farm.upload(await buildSdist("demo-pkg", { version: "7.1" }));
    const [next] = await farm.settled("demo-pkg", 1);
    expect(next, await farm.describe("demo-pkg")).toMatchObject({ status: "succeeded", agent: "filler" });
  });
});
