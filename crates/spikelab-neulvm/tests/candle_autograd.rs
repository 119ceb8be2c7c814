//! An independent check of the whole objective and its exact gradients: the same L_y + L_Z
//! written with candle tensor ops and differentiated by candle's autograd
//! (`spikelab_neulvm::autograd`, feature `candle`) must agree with `NeuLvm::gradient` (the hand-written adjoint)
//! on the bundled data, for the parameters and the latent.

use candle_core::{Device, Var};
use ndarray::Array2;
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_neulvm::{LambdaFallback, Params, Wrt};

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn check(params: &Params, z: &Array2<f64>) {
    let model = spikelab_datasets::neulvm::model().unwrap();
    let ours = model
        .gradient(params, z.view(), LambdaFallback::MStep, Wrt::Both)
        .unwrap();
    let dev = Device::Cpu;
    let c = spikelab_neulvm::autograd::consts(&model, &dev).unwrap();
    let theta = Var::from_vec(params.to_vec(), 12, &dev).unwrap();
    let (m, nb) = z.dim();
    let zv = Var::from_vec(z.iter().copied().collect::<Vec<_>>(), (m, nb), &dev).unwrap();
    let (ly, lz) =
        spikelab_neulvm::autograd::objective(&c, theta.as_tensor(), zv.as_tensor()).unwrap();
    let total = (&ly + &lz).unwrap();
    let grads = total.backward().unwrap();
    let lc = total.to_scalar::<f64>().unwrap();
    let dl = ((lc - ours.losses.total()) / ours.losses.total()).abs();
    assert!(dl < 1e-12, "loss {lc} vs {}", ours.losses.total());
    let gp = grads
        .get(theta.as_tensor())
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let gz: Vec<f64> = grads
        .get(zv.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let ours_gz: Vec<f64> = ours.latent.as_ref().unwrap().iter().copied().collect();
    let (dp, dz) = (rel(&gp, ours.params.as_ref().unwrap()), rel(&gz, &ours_gz));
    assert!(dp < 1e-10, "θ gradient rel diff {dp:e}");
    assert!(dz < 1e-10, "Z gradient rel diff {dz:e}");
}

#[test]
fn candle_autograd_equals_adjoint_at_truth_and_x_rand() {
    // candle's topological sort recurses through the ~10⁵-deep graph: big stack.
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(|| {
            let z: Array2<f64> =
                npy::read_typed(&datasets::neulvm("Z_init_4ms.npy").unwrap()).unwrap();
            check(&Params::winner_take_all_ground_truth(), &z);
            check(&spikelab_datasets::neulvm::golden_x_rand().unwrap(), &z);
        })
        .unwrap()
        .join()
        .unwrap();
}
