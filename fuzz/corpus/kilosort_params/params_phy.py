dat_path = r'C:\data\rec.dat'  # raw data
n_channels_dat = 64
dtype = "float32"
offset = 1e3
sample_rate = 2.5e4
hp_filtered = True
n_features_per_channel = 3
