// The address the login throttle counts: the socket's, unless the request comes from the
// configured proxy (nginx), whose X-Real-IP then names the client.
import { describe, expect, test } from "vitest";
import { clientAddress } from "../../src/http/identify.js";

describe("clientAddress", () => {
  test("from the trusted proxy: the client named in X-Real-IP (IPv4-mapped or not)", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.7", "127.0.0.1")).toBe("203.0.113.7");
    expect(clientAddress("::ffff:127.0.0.1", " 203.0.113.7 ", "127.0.0.1")).toBe("203.0.113.7");
  });

  test("from anyone else, or with no proxy configured: the socket's address, whatever X-Real-IP claims", () => {
    expect(clientAddress("198.51.100.9", "203.0.113.7", "127.0.0.1")).toBe("198.51.100.9");
    expect(clientAddress("127.0.0.1", "203.0.113.7", undefined)).toBe("127.0.0.1");
  });

  test("from the proxy without X-Real-IP (or a repeated one): the proxy's own address", () => {
    expect(clientAddress("127.0.0.1", undefined, "127.0.0.1")).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", ["203.0.113.7", "203.0.113.8"], "127.0.0.1")).toBe("127.0.0.1");
  });
});
