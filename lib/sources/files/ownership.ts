/** The set-group-ID bit of a mode: new entries in such a folder take the folder's group. */
export const SET_GROUP_ID = 0o2000;

/** Who owns the entries a restore creates, when that is known for sure. */
export interface Creator {
  uid: number;
  gid: number;
}

/** Whether a new entry made by `createdAs` already has the owner `node` asks for (no chown needed). */
export function ownedAs(node: { uid: number; gid: number }, createdAs?: Creator): boolean {
  return createdAs !== undefined && node.uid === createdAs.uid && node.gid === createdAs.gid;
}
