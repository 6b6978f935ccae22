//! Settlement cost: gas per settled inference for batches of 1, 10, 100 and 1,000 claims against
//! one settlement transaction per inference, and settled inferences per second on a local EVM.

use std::time::Instant;

use alloy_primitives::{Address, Bytes, U256};
use veritas_chain::{
    LocalEvm,
    contracts::{Settlement, VeritasToken},
    genesis::{GenesisConfig, Role, deploy_contracts, register_node},
};
use veritas_primitives::{
    MerkleTree, WorkerKey,
    batch::{Transfer, batch_digest},
    keccak256, merkle_leaf,
};

const FEE: u128 = 1_000;
/// The gateway the batches name (the payers allow it to charge them).
const GATEWAY: Address = Address::repeat_byte(0x6a);
/// A deadline far ahead of the benchmark's clock.
const DEADLINE: u64 = 2_000_000_000;

fn key(n: u64) -> WorkerKey {
    WorkerKey::from_bytes(&keccak256(n.to_be_bytes())).expect("a hash is a valid key")
}

struct Bench {
    evm: LocalEvm,
    admin: Address,
    settlement: Address,
    validators: Vec<WorkerKey>,
    payers: Vec<Address>,
    workers: Vec<Address>,
    batches: u64,
}

impl Bench {
    fn new() -> Bench {
        let admin = key(0).address();
        let mut evm = LocalEvm::new(31337, 1_767_225_600);
        let contracts = deploy_contracts(&mut evm, &GenesisConfig::dev(admin)).expect("deploy");
        let unit = U256::from(10u64).pow(U256::from(18u64));
        let validators: Vec<WorkerKey> = (1..=3).map(key).collect();
        for (i, validator) in validators.iter().enumerate() {
            let endpoint = format!("http://127.0.0.1:{}", 7800 + i);
            register_node(
                &mut evm,
                &contracts,
                admin,
                validator,
                Role::Validator,
                &endpoint,
                unit * U256::from(1000u64),
            )
            .expect("register");
        }
        // Ten paying accounts with deposits; two workers.
        let payers: Vec<Address> = (100..110).map(|n| key(n).address()).collect();
        for &payer in &payers {
            let amount = unit * U256::from(1_000_000u64);
            evm.send(admin, contracts.token, VeritasToken::transferCall { to: payer, value: amount }).expect("fund");
            evm.send(
                payer,
                contracts.token,
                VeritasToken::approveCall { spender: contracts.settlement, value: amount },
            )
            .expect("approve");
            evm.send(payer, contracts.settlement, Settlement::depositCall { amount }).expect("deposit");
            // A limited allowance for the gateway, used up as batches settle (the costlier case).
            evm.send(payer, contracts.settlement, Settlement::approveGatewayCall { gateway: GATEWAY, amount })
                .expect("allow");
        }
        let workers = (200..202).map(|n| key(n).address()).collect();
        Bench { evm, admin, settlement: contracts.settlement, validators, payers, workers, batches: 0 }
    }

    /// Settles one batch of `count` claims spread over the payers and workers; returns its gas.
    fn settle(&mut self, count: u32) -> u64 {
        self.batches += 1;
        let ids: Vec<_> =
            (0..count).map(|i| keccak256([self.batches.to_be_bytes(), u64::from(i).to_be_bytes()].concat())).collect();
        let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
        // Net transfers: each payer pays for its claims; the workers earn 90%, validators and
        // the treasury share the rest.
        let n_payers = (count as usize).min(self.payers.len());
        let mut debits: Vec<Transfer> = self.payers[..n_payers]
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let claims = count as usize / n_payers + usize::from(i < count as usize % n_payers);
                Transfer::of(p, FEE * claims as u128)
            })
            .collect();
        debits.retain(|d| d.amount > U256::ZERO);
        let total = FEE * u128::from(count);
        let n_workers = (count as usize).min(self.workers.len());
        let worker_share = total * 9 / 10;
        let mut credits: Vec<Transfer> = self.workers[..n_workers]
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let share = worker_share / n_workers as u128 + u128::from(i == 0) * (worker_share % n_workers as u128);
                Transfer::of(w, share)
            })
            .collect();
        let rest = total - worker_share;
        let per_validator = rest / 4;
        for validator in &self.validators {
            credits.push(Transfer::of(validator.address(), per_validator));
        }
        credits.push(Transfer::of(self.admin, rest - per_validator * 3));
        let domain = veritas_primitives::ClaimDomain { chain_id: 31337, verifying_contract: self.settlement };
        let digest = batch_digest(&domain, tree.root(), count, GATEWAY, DEADLINE, &debits, &credits);
        let mut signers: Vec<&WorkerKey> = self.validators.iter().collect();
        signers.sort_by_key(|k| k.address());
        let signatures = signers.iter().map(|k| Bytes::from(k.sign_digest(&digest).expect("sign").to_vec())).collect();
        let call = veritas_chain::contracts::settle_batch_call(
            tree.root(),
            count,
            GATEWAY,
            DEADLINE,
            &debits,
            &credits,
            signatures,
        );
        self.evm.send(self.admin, self.settlement, call).expect("settle").gas_used
    }
}

pub fn run() {
    let mut bench = Bench::new();
    // Warm up: the first credits to an account pay for creating its storage slot.
    bench.settle(1000);
    let single = bench.settle(1);
    println!("| batch size | gas per batch | gas per inference | vs one transaction per inference |");
    println!("|---|---|---|---|");
    for count in [1u32, 10, 100, 1000] {
        let gas = bench.settle(count);
        let per = gas as f64 / f64::from(count);
        println!("| {count} | {gas} | {per:.0} | {:.4}× |", per / single as f64);
    }
    println!(
        "\n(one transaction per inference: {single} gas each; every batch has a quorum of 3 validators, up to 10 payers, 2 workers)"
    );

    // Throughput of the local EVM: batches of 1,000 claims, signatures made beforehand are not
    // separated out: the figure includes building and signing each batch, as a batcher would.
    let batches = 50;
    let start = Instant::now();
    for _ in 0..batches {
        bench.settle(1000);
    }
    let seconds = start.elapsed().as_secs_f64();
    let in_memory = f64::from(batches * 1000) / seconds;
    println!(
        "\nlocal EVM (in memory): {batches} batches of 1,000 claims in {seconds:.3} s = {:.0} settled inferences/s",
        in_memory
    );
    embedded::run();
}

mod embedded {
    //! Settled inferences per second on the embedded chain: signed transactions, one block each,
    //! every block written to disk before the next.

    use std::time::Instant;

    use alloy_primitives::{Address, Bytes, U256};
    use alloy_sol_types::SolCall;
    use veritas_chain::{
        contracts::{NodeRegistry, Settlement, VeritasToken},
        embedded::{DevGenesis, EmbeddedChain},
        genesis::GenesisConfig,
    };
    use veritas_primitives::{
        MerkleTree, WorkerKey,
        batch::{Transfer, batch_digest},
        keccak256, merkle_leaf,
    };

    struct Sender {
        chain: EmbeddedChain,
        now: u64,
    }

    impl Sender {
        fn send(&mut self, key: &WorkerKey, to: Address, data: Vec<u8>) {
            self.now += 1;
            let receipt = self.chain.send_signed(key, to, U256::ZERO, data.into(), self.now).expect("accepted");
            assert!(receipt.status, "transaction failed");
        }
    }

    pub fn run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys: Vec<WorkerKey> =
            (0..6u64).map(|n| WorkerKey::from_bytes(&keccak256(n.to_be_bytes())).expect("key")).collect();
        let (admin, validators, payer, worker) = (&keys[0], &keys[1..4], &keys[4], keys[5].address());
        let unit = U256::from(10u64).pow(U256::from(18u64));
        let genesis = DevGenesis {
            chain_id: 31337,
            timestamp: 1_767_225_600,
            config: GenesisConfig::dev(admin.address()),
            accounts: keys.iter().map(WorkerKey::address).collect(),
            ether: unit * U256::from(100u64),
            tokens: unit * U256::from(1_000_000u64),
        };
        let chain = EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis).expect("genesis");
        let contracts = chain.contracts();
        let mut sender = Sender { chain, now: 1_767_225_600 };
        let stake = unit * U256::from(1000u64);
        for validator in validators {
            sender.send(
                validator,
                contracts.token,
                VeritasToken::approveCall { spender: contracts.registry, value: stake }.abi_encode(),
            );
            let operator = validator.address();
            let digest = sender
                .chain
                .view(contracts.registry, NodeRegistry::registrationDigestCall { operator })
                .expect("digest");
            let proof = Bytes::from(validator.sign_digest(&digest).expect("proof").to_vec());
            let register = NodeRegistry::registerCall {
                signer: operator,
                role: 2,
                endpoint: String::new(),
                stake,
                signerProof: proof,
            };
            sender.send(validator, contracts.registry, register.abi_encode());
        }
        let deposit = unit * U256::from(100_000u64);
        sender.send(
            payer,
            contracts.token,
            VeritasToken::approveCall { spender: contracts.settlement, value: deposit }.abi_encode(),
        );
        sender.send(payer, contracts.settlement, Settlement::depositCall { amount: deposit }.abi_encode());
        let allow = Settlement::approveGatewayCall { gateway: super::GATEWAY, amount: deposit };
        sender.send(payer, contracts.settlement, allow.abi_encode());

        let domain = contracts.domain(31337);
        let batches = 40u32;
        let claims = 1000u32;
        let start = Instant::now();
        for b in 0..batches {
            let ids: Vec<_> = (0..claims).map(|i| keccak256([b.to_be_bytes(), i.to_be_bytes()].concat())).collect();
            let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
            let debits = vec![Transfer::of(payer.address(), 1000 * u128::from(claims))];
            let credits = vec![Transfer::of(worker, 1000 * u128::from(claims))];
            let (gateway, deadline) = (super::GATEWAY, super::DEADLINE);
            let digest = batch_digest(&domain, tree.root(), claims, gateway, deadline, &debits, &credits);
            let mut signers: Vec<&WorkerKey> = validators.iter().collect();
            signers.sort_by_key(|k| k.address());
            let signatures =
                signers.iter().map(|k| Bytes::from(k.sign_digest(&digest).expect("sign").to_vec())).collect();
            let call = veritas_chain::contracts::settle_batch_call(
                tree.root(),
                claims,
                gateway,
                deadline,
                &debits,
                &credits,
                signatures,
            );
            sender.send(admin, contracts.settlement, call.abi_encode());
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "embedded chain (signed transactions, a block each, fsync'd to redb): {batches} batches of {claims} claims in {seconds:.3} s = {:.0} settled inferences/s ({:.1} ms per batch)",
            f64::from(batches * claims) / seconds,
            seconds * 1000.0 / f64::from(batches)
        );
    }
}
