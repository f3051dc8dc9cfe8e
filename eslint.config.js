import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "clients/ts/dist/", "**/gen/", "node_modules/", ".baton/", "scratch/", ".scratch/", "clients/go/", "clients/python/"] },
  js.configs.recommended,
  // Rules that read the types: floating promises, unsafe any, unbound methods, needless casts.
  ...tseslint.configs.recommendedTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  // Plain JavaScript (scripts, configs) has no types to read.
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], ...tseslint.configs.disableTypeChecked },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // Tests match with vitest's asymmetric matchers (expect.any(…) is typed any), pass
    // methods to expect(), and load a contract with @grpc/proto-loader, whose services are any.
    files: ["test/**"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
);
