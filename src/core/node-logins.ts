/**
 * A clean node runs import code from every upload as the user the checker logs in as: the node is
 * only as clean as that user can keep it. Root can change the interpreters, the libraries and the
 * checker's own view of the node, so a root login deserves a plain warning wherever nodes show.
 */
export function rootLoginWarning(node: { name: string; user: string }): string | null {
  if (node.user !== "root") return null;
  return `WARNING: node ${node.name} logs in as root: every check runs upload code as root there, which can change the node's interpreters and libraries for every later check. Use an unprivileged user (README, Security model).`;
}
