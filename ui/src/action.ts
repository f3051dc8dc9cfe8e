import { useState } from "preact/hooks";

/**
 * A button's action against the broker: one at a time (`busy` names the running one), its
 * outcome as a notice or an error, then `after` (refresh what it changed).
 */
export function useAction(after: () => void) {
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();

  const act = async (key: string, action: () => Promise<string>) => {
    setBusy(key);
    setError(undefined);
    setNotice(undefined);
    try {
      setNotice(await action());
      after();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };

  return { busy, error, notice, act };
}
