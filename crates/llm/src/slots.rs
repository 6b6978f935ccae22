//! Decode slots: how many llama.cpp decodes may run at once across all generations.
//!
//! Generations take turns a decode (one token, or one prompt chunk) at a time, so several chats
//! all advance instead of one waiting for another to finish, while the CPU is never asked for
//! more threads than it has (llama.cpp's threads spin, and oversubscribed they slow everything
//! down many times over). Each generation keeps its own context and decodes alone, so its
//! tokens are the same as if it ran by itself.

use std::sync::{Condvar, Mutex};

/// A counting semaphore for decodes (blocking: generations run on blocking threads).
#[derive(Debug)]
pub struct DecodeSlots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot, given back when dropped.
pub struct Slot<'a>(&'a DecodeSlots);

impl DecodeSlots {
    /// `n` decodes at once (at least one).
    pub fn new(n: usize) -> DecodeSlots {
        DecodeSlots { free: Mutex::new(n.max(1)), freed: Condvar::new() }
    }

    /// Waits for a slot.
    pub fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[test]
    fn never_more_holders_than_slots() {
        let slots = Arc::new(DecodeSlots::new(2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (slots, now, most) = (slots.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _slot = slots.acquire();
                        let holders = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(holders, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
