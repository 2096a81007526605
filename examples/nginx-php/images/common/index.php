<?php echo "hello from php " . PHP_VERSION . " pid " . getmypid() . "\n"; ?>
