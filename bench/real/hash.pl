my %h; for my $i (1..300000) { $h{"key$i"} = [$i, "value$i"]; } my $n = 0; for my $k (keys %h) { $n += $h{$k}[0]; } print "$n\n";
