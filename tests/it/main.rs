//! Integration tests: the CLI binary and the Lambda handler against real servers on loopback
//! (moto for AWS; kube-apiserver + controller-manager + etcd for Kubernetes), started by
//! `scripts/stack.py up` (idempotent; left running for the next run, stop with `down`).
//! One binary for all of them keeps link time down.

mod bad_payloads;
mod config;
mod corpus;
mod deploy;
mod fleet;
mod gateway;
mod harness;
mod incidents;
mod judgement;
mod lambda;
mod network;
mod probe;
mod publish;
mod replay;
mod root_causes;
mod storm;
