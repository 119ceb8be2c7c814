//! `spikelab-core` statistics and smoothing against NumPy 2.4 / SciPy 1.17 values, produced by
//! `scripts/numpy_scipy_values.py` from the literal inputs below.

use spikelab_core::smooth::gaussian_filter1d;
use spikelab_core::stats::{
    NanPolicy, median, pearson, percentile, percentile_of_sorted, rank_average, spearman,
};

const DATA: [f64; 13] = [
    3.7, -1.25, 0.5, 9.0, 2.2, 2.2, -7.75, 4.125, 0.1, 6.3, 2.2, -0.4, 5.55,
];
const X: [f64; 23] = [
    0.0, 1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 3.0, 0.5, 0.25, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 4.0, 0.0, 1.5,
];
const Y: [f64; 23] = [
    0.1, 0.8, 0.2, 0.0, 1.5, 0.3, 0.2, 0.0, 0.1, 2.9, 0.9, 0.0, 0.0, 0.3, 0.7, 0.0, 0.1, 0.0, 0.0,
    0.2, 3.1, 0.0, 1.0,
];
const QS: [f64; 8] = [0.0, 5.0, 12.5, 33.3, 50.0, 80.0, 98.0, 100.0];

// Values: numpy 2.4.6, scipy 1.17.1
const PERCENTILE_EVEN: [f64; 8] = [
    -7.75,
    -4.175,
    -0.93125,
    0.36519999999999975,
    2.2,
    4.04,
    8.405999999999999,
    9.0,
];
const PERCENTILE_ODD: [f64; 8] = [
    -7.75,
    -3.8499999999999996,
    -0.825,
    0.49839999999999984,
    2.2,
    4.980000000000002,
    8.352,
    9.0,
];
const NANPERCENTILE: [f64; 8] = [
    -7.75,
    -3.8499999999999996,
    -0.825,
    0.49839999999999984,
    2.2,
    4.980000000000002,
    8.352,
    9.0,
];
const MEDIANS: [f64; 3] = [2.2, 2.2, 2.2];
const CORR: [f64; 3] = [0.9683605023341005, 0.7967121963879489, -0.4113475177304965];
const RANKS: [f64; 13] = [
    9.0, 2.0, 5.0, 13.0, 7.0, 7.0, 1.0, 10.0, 4.0, 12.0, 7.0, 3.0, 11.0,
];
const GAUSS_0_7: [f64; 23] = [
    0.21501858344758706,
    0.5700213577282659,
    0.22469603888522546,
    0.4300371668951741,
    1.3451497449727208,
    0.9806450891247233,
    0.22481308813210527,
    0.038622034815393766,
    0.6210815790865648,
    1.8146419105940825,
    0.9524717629874859,
    0.27407658934721624,
    0.06595388324996461,
    0.20783364764865814,
    0.5698604150138061,
    0.20539965263338855,
    0.009618930814198498,
    0.00029262311719954347,
    0.03847572325679399,
    0.8216863974687141,
    2.293899318588242,
    1.1441264857049347,
    1.2015779764875558,
];
const GAUSS_2_5: [f64; 23] = [
    0.4266000321368443,
    0.4610578701674455,
    0.5184388390841972,
    0.5788263720375395,
    0.623765036319854,
    0.6482373145254137,
    0.6631871406965549,
    0.681169456527626,
    0.6978861737536501,
    0.6914813723515244,
    0.6428940489012415,
    0.5551883961136981,
    0.4526441875361205,
    0.36278330676216686,
    0.30395668731576075,
    0.28891152022469235,
    0.33189936845159596,
    0.4447118965234156,
    0.6215039382846275,
    0.830264978619063,
    1.0240897034024836,
    1.1647431672519009,
    1.2357591930125815,
];
const GAUSS_10_0: [f64; 23] = [
    0.574887385596574,
    0.5754984503273124,
    0.576681049838805,
    0.5784639248196461,
    0.580846601981063,
    0.5838787995981622,
    0.5875463675314357,
    0.5918606245667468,
    0.5967831278695023,
    0.6022810606570421,
    0.6083467662499324,
    0.6148593512231377,
    0.621710490309669,
    0.6287774308424722,
    0.6359042079935949,
    0.6429190718854366,
    0.6496608922349927,
    0.65588959963146,
    0.6614319850743406,
    0.6661237255444599,
    0.6697664987515394,
    0.6722973945280759,
    0.6735851929445988,
];

fn with_nan() -> Vec<f64> {
    let mut v = DATA[..5].to_vec();
    v.push(f64::NAN);
    v.extend_from_slice(&DATA[5..]);
    v
}

#[test]
fn percentiles_are_numpy_bit_for_bit() {
    let nan = with_nan();
    for (i, &q) in QS.iter().enumerate() {
        assert_eq!(
            percentile(&DATA[..12], q, NanPolicy::Propagate).unwrap(),
            PERCENTILE_EVEN[i],
            "q={q}"
        );
        assert_eq!(
            percentile(&DATA, q, NanPolicy::Raise).unwrap(),
            PERCENTILE_ODD[i],
            "q={q}"
        );
        assert_eq!(
            percentile(&nan, q, NanPolicy::Omit).unwrap(),
            NANPERCENTILE[i],
            "q={q}"
        );
        assert!(percentile(&nan, q, NanPolicy::Propagate).unwrap().is_nan());
        let mut s = DATA.to_vec();
        s.sort_by(f64::total_cmp);
        assert_eq!(percentile_of_sorted(&s, q).unwrap(), PERCENTILE_ODD[i]);
    }
    assert_eq!(
        median(&DATA[..12], NanPolicy::Propagate).unwrap(),
        MEDIANS[0]
    );
    assert_eq!(median(&DATA, NanPolicy::Propagate).unwrap(), MEDIANS[1]);
    assert_eq!(median(&with_nan(), NanPolicy::Omit).unwrap(), MEDIANS[2]);
    assert_eq!(
        median(&[4.0, 1.0, 2.0, 3.0], NanPolicy::Raise).unwrap(),
        2.5
    );
}

#[test]
fn correlations_and_ranks_match_scipy() {
    assert!((pearson(&X, &Y).unwrap() - CORR[0]).abs() < 1e-15);
    assert!((spearman(&X, &Y).unwrap() - CORR[1]).abs() < 1e-15);
    assert!((spearman(&DATA[..12], &DATA[1..]).unwrap() - CORR[2]).abs() < 1e-15);
    assert_eq!(rank_average(&DATA), RANKS);
}

#[test]
fn gaussian_filter1d_matches_scipy_including_kernels_longer_than_the_signal() {
    for (sigma, want) in [(0.7, &GAUSS_0_7), (2.5, &GAUSS_2_5), (10.0, &GAUSS_10_0)] {
        let got = gaussian_filter1d(&X, sigma).unwrap();
        let err = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-15, "sigma {sigma}: max abs error {err:e}");
    }
}
