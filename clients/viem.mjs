// viem, unmodified, against the embedded chain's JSON-RPC: read a balance, send a signed
// transaction from a development account, wait for its receipt, read the logs it made.
//
//     node viem.mjs RPC_URL TOKEN_ADDRESS
import { createPublicClient, createWalletClient, defineChain, http, parseAbi } from "viem";
import { mnemonicToAccount } from "viem/accounts";

const [url, token] = process.argv.slice(2);
const chain = defineChain({
  id: 31337,
  name: "veritas-dev",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [url] } },
});
const account = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: 1 });
const transport = http(url);
const reader = createPublicClient({ chain, transport, pollingInterval: 50 });
const wallet = createWalletClient({ account, chain, transport });
const abi = parseAbi([
  "function balanceOf(address) view returns (uint256)",
  "function transfer(address to, uint256 value) returns (bool)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
]);
const to = "0x000000000000000000000000000000000000dEaD";

const fail = (message) => {
  console.error(message);
  process.exit(1);
};

const ether = await reader.getBalance({ address: account.address });
if (ether === 0n) fail("the development account has no ether");
const before = await reader.readContract({ address: token, abi, functionName: "balanceOf", args: [to] });
const hash = await wallet.writeContract({ address: token, abi, functionName: "transfer", args: [to, 1234n] });
const receipt = await reader.waitForTransactionReceipt({ hash, timeout: 20_000 });
if (receipt.status !== "success") fail(`transaction ${hash} failed`);
const after = await reader.readContract({ address: token, abi, functionName: "balanceOf", args: [to] });
if (after - before !== 1234n) fail(`balance moved by ${after - before}, expected 1234`);
const logs = await reader.getContractEvents({ address: token, abi, eventName: "Transfer", args: { to }, fromBlock: 0n });
if (logs.length !== 1 || logs[0].transactionHash !== hash) fail(`expected one Transfer log, got ${logs.length}`);
const block = await reader.getBlock({ blockNumber: receipt.blockNumber });
console.log(JSON.stringify({ hash, block: block.number.toString(), logs: logs.length, chainId: await reader.getChainId() }));
