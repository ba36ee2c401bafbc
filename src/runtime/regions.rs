//! Pipelined regions: the sets of subtasks that must restart together (Flink's
//! `SchedulingPipelinedRegion`, used by the `region` failover strategy).
//!
//! Every exchange of ours is pipelined (records flow while both ends run, nothing is kept once
//! consumed), so a subtask that restarts needs all its producers to replay and all its
//! consumers to forget what it sent: the region of a subtask is the connected component of the
//! subtask-level exchange graph. A job whose edges are all forward (or rescale) at matching
//! parallelism splits into one region per pipeline; one keyBy, rebalance or broadcast joins
//! every subtask of both ends into one region. Flink also restarts the consumers of a region's
//! *blocking* results; with no blocking exchanges there are none to add.

use std::collections::HashMap;

use super::task::connected_consumers;
use crate::graph::JobGraph;

/// A subtask: (vertex, subtask index).
pub type TaskKey = (usize, usize);

/// One exchange between two vertices, as the region computation needs it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub source_vertex: usize,
    pub target_vertex: usize,
    /// Forward/rescale (each producer feeds some consumers) rather than all-to-all.
    pub pointwise: bool,
}

/// The pipelined regions of a job.
#[derive(Debug, Clone)]
pub struct PipelinedRegions {
    /// Each region's subtasks, in (vertex, subtask) order; regions ordered by their first.
    regions: Vec<Vec<TaskKey>>,
    region_of: HashMap<TaskKey, usize>,
}

impl PipelinedRegions {
    pub fn of_job(job: &JobGraph) -> Self {
        let parallelism: Vec<usize> = job.vertices.iter().map(|v| v.parallelism).collect();
        let exchanges: Vec<Exchange> = job
            .edges
            .iter()
            .map(|e| Exchange {
                source_vertex: e.source_vertex,
                target_vertex: e.target_vertex,
                pointwise: e.partitioner.is_pointwise(),
            })
            .collect();
        Self::compute(&parallelism, &exchanges)
    }

    /// Regions of vertices with these parallelisms joined by these exchanges.
    pub fn compute(parallelism: &[usize], exchanges: &[Exchange]) -> Self {
        let offsets: Vec<usize> = parallelism
            .iter()
            .scan(0, |next, p| {
                let start = *next;
                *next += p;
                Some(start)
            })
            .collect();
        let total: usize = parallelism.iter().sum();
        let mut sets = DisjointSets::new(total);
        for e in exchanges {
            let (Some(&producers), Some(&consumers)) = (
                parallelism.get(e.source_vertex),
                parallelism.get(e.target_vertex),
            ) else {
                continue;
            };
            for producer in 0..producers {
                for consumer in connected_consumers(producer, producers, consumers, e.pointwise) {
                    sets.union(
                        offsets[e.source_vertex] + producer,
                        offsets[e.target_vertex] + consumer,
                    );
                }
            }
        }
        let mut regions: Vec<Vec<TaskKey>> = Vec::new();
        let mut region_of = HashMap::new();
        let mut index_of_root = HashMap::new();
        for (vertex, &p) in parallelism.iter().enumerate() {
            for subtask in 0..p {
                let root = sets.find(offsets[vertex] + subtask);
                let index = *index_of_root.entry(root).or_insert_with(|| {
                    regions.push(Vec::new());
                    regions.len() - 1
                });
                regions[index].push((vertex, subtask));
                region_of.insert((vertex, subtask), index);
            }
        }
        PipelinedRegions { regions, region_of }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// The region of a subtask (`None` for a subtask the job does not have).
    pub fn region_of(&self, task: TaskKey) -> Option<usize> {
        self.region_of.get(&task).copied()
    }

    /// The subtasks of region `index`.
    pub fn tasks(&self, index: usize) -> &[TaskKey] {
        self.regions
            .get(index)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Union-find over subtask indices, with path halving.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(source_vertex: usize, target_vertex: usize, pointwise: bool) -> Exchange {
        Exchange {
            source_vertex,
            target_vertex,
            pointwise,
        }
    }

    #[test]
    fn forward_pipelines_are_one_region_per_subtask() {
        let regions =
            PipelinedRegions::compute(&[2, 2, 2], &[exchange(0, 1, true), exchange(1, 2, true)]);
        assert_eq!(regions.len(), 2);
        assert_eq!(regions.tasks(0), &[(0, 0), (1, 0), (2, 0)]);
        assert_eq!(regions.tasks(1), &[(0, 1), (1, 1), (2, 1)]);
        assert_eq!(regions.region_of((1, 1)), Some(1));
    }

    #[test]
    fn an_all_to_all_exchange_joins_every_subtask_into_one_region() {
        let regions =
            PipelinedRegions::compute(&[2, 3, 3], &[exchange(0, 1, false), exchange(1, 2, true)]);
        assert_eq!(regions.len(), 1);
        assert_eq!(regions.tasks(0).len(), 8);
    }

    #[test]
    fn a_rescale_from_four_to_two_makes_two_regions() {
        let regions = PipelinedRegions::compute(&[4, 2], &[exchange(0, 1, true)]);
        assert_eq!(regions.len(), 2);
        assert_eq!(regions.tasks(0), &[(0, 0), (0, 1), (1, 0)]);
        assert_eq!(regions.tasks(1), &[(0, 2), (0, 3), (1, 1)]);
    }

    #[test]
    fn unconnected_vertices_are_regions_of_their_own() {
        let regions = PipelinedRegions::compute(&[1, 1], &[]);
        assert_eq!(regions.len(), 2);
        assert_eq!(regions.region_of((0, 0)), Some(0));
        assert_eq!(regions.region_of((1, 0)), Some(1));
        assert_eq!(regions.region_of((2, 0)), None);
        assert!(regions.tasks(5).is_empty());
    }
}
