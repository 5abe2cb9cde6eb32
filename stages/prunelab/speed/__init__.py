"""Speed: the execution routes, what the benchmark times, the timer and storage figures."""
