/** The smallest good configuration the config tests build on: one repository, one files source. */
export const BASE = `version: 1
repositories:
  main:
    url: ./repo
    residency: RU
sources:
  saves:
    type: files
    paths: [./saves]
    repository: main
    dataClass: game-content
`;
